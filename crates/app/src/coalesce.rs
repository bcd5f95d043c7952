//! Concurrent requests of one kind written together (group commit). With one writer at a time
//! (SQLite's lock, or one row everyone updates), a transaction of ten people costs little more
//! than a transaction of one; so while a group is being written, the requests that arrive wait
//! together and become the next group. A lone request waits for nobody.
//!
//! A group runs in a task of its own: a caller that goes away (a dropped connection) does not
//! take the others' work with it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::AppError;

/// What each item of a group is answered.
type Outcome<T> = Result<T, AppError>;

/// The items waiting for the next group, each with where its outcome goes.
type Waiting<I, T> = Vec<(I, oneshot::Sender<Outcome<T>>)>;

type Queues<K, I, T> = Arc<Mutex<HashMap<K, Waiting<I, T>>>>;

/// Groups items by key. A key has an entry exactly while a task is writing its groups.
pub struct Coalescer<K, I, T> {
    queues: Queues<K, I, T>,
    /// The most items one group takes.
    most: usize,
}

impl<K, I, T> Coalescer<K, I, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    I: Send + 'static,
    T: Send + 'static,
{
    pub fn new(most: usize) -> Self {
        Coalescer {
            queues: Arc::default(),
            most: most.max(1),
        }
    }

    /// Runs `item` in a group with the items of the same key that wait meanwhile. `work` takes
    /// the `context` (e.g. the app) and a group, and answers one outcome per item, in order.
    pub async fn run<C, W, F>(&self, context: C, key: K, item: I, work: W) -> Outcome<T>
    where
        C: Clone + Send + 'static,
        W: Fn(C, Vec<I>) -> F + Send + 'static,
        F: Future<Output = Vec<Outcome<T>>> + Send,
    {
        let (sender, answer) = oneshot::channel();
        let first = {
            let mut queues = lock(&self.queues);
            match queues.get_mut(&key) {
                Some(waiting) => {
                    waiting.push((item, sender));
                    false
                }
                None => {
                    queues.insert(key.clone(), vec![(item, sender)]);
                    true
                }
            }
        };
        if first {
            let queues = self.queues.clone();
            let most = self.most;
            tokio::spawn(async move {
                drain(&queues, &key, most, move |items| {
                    work(context.clone(), items)
                })
                .await
            });
        }
        answer.await.unwrap_or_else(|_| {
            Err(AppError::Internal(
                "the write stopped on an internal fault before it answered; look the change up before trying again".into(),
            ))
        })
    }
}

/// Writes a key's groups until nobody waits.
async fn drain<K, I, T, W, F>(queues: &Queues<K, I, T>, key: &K, most: usize, work: W)
where
    K: Hash + Eq,
    W: Fn(Vec<I>) -> F,
    F: Future<Output = Vec<Outcome<T>>>,
{
    let mut forget = Forget {
        queues,
        key: Some(key),
    };
    loop {
        let group: Waiting<I, T> = {
            let mut queues = lock(queues);
            let waiting = queues
                .get_mut(key)
                .expect("a key has an entry while its groups are written");
            if waiting.is_empty() {
                queues.remove(key);
                forget.key = None;
                return;
            }
            let n = waiting.len().min(most);
            waiting.drain(..n).collect()
        };
        let (items, senders): (Vec<I>, Vec<_>) = group.into_iter().unzip();
        let outcomes = work(items).await;
        for (sender, outcome) in senders.into_iter().zip(outcomes) {
            let _ = sender.send(outcome);
        }
    }
}

/// If a group's work panics, its key is forgotten and those still waiting are answered with
/// an error, so the next request starts afresh instead of waiting for a task that is gone.
struct Forget<'a, K: Hash + Eq, I, T> {
    queues: &'a Queues<K, I, T>,
    key: Option<&'a K>,
}

impl<K: Hash + Eq, I, T> Drop for Forget<'_, K, I, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(self.queues).remove(key);
        }
    }
}

/// Writes a group in one piece, or, when it is refused as a whole (which writes nothing: seats
/// or a limit for only some of it, a key taken meanwhile or twice in it), each item alone, so
/// that each gets the outcome it would have had alone.
pub(crate) async fn together_or_each<'a, I, T, F, Fut>(
    group: &'a [I],
    write: F,
) -> Vec<Result<T, AppError>>
where
    F: Fn(&'a [I]) -> Fut,
    Fut: Future<Output = Result<Vec<T>, AppError>>,
{
    match write(group).await {
        Ok(written) => written.into_iter().map(Ok).collect(),
        Err(e) if group.len() == 1 => vec![Err(e)],
        Err(_) => {
            let mut outcomes = Vec::with_capacity(group.len());
            for one in group {
                let alone = write(std::slice::from_ref(one)).await;
                outcomes.push(alone.map(|mut written| written.remove(0)));
            }
            outcomes
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn numbered(_: (), items: Vec<u32>) -> Vec<Outcome<(u32, usize)>> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = items.len();
        items.into_iter().map(|i| Ok((i, n))).collect()
    }

    #[tokio::test]
    async fn requests_arriving_during_a_group_are_written_as_the_next_group() {
        let c = Arc::new(Coalescer::<u8, u32, (u32, usize)>::new(100));
        let first = {
            let c = c.clone();
            tokio::spawn(async move { c.run((), 1, 0, numbered).await.ok() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let rest: Vec<_> = (1..=5)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move { c.run((), 1, i, numbered).await.ok() })
            })
            .collect();
        assert_eq!(
            first.await.unwrap(),
            Some((0, 1)),
            "a lone request goes at once"
        );
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(
                r.await.unwrap(),
                Some((i as u32 + 1, 5)),
                "the five waited together"
            );
        }
        assert!(lock(&c.queues).is_empty(), "nothing is left waiting");
    }

    async fn panics(_: (), _: Vec<u32>) -> Vec<Outcome<u32>> {
        panic!("the work failed")
    }

    async fn doubles(_: (), items: Vec<u32>) -> Vec<Outcome<u32>> {
        items.iter().map(|i| Ok(i * 2)).collect()
    }

    #[tokio::test]
    async fn a_group_that_panics_answers_none_and_the_next_request_starts_afresh() {
        let c = Coalescer::<u8, u32, u32>::new(10);
        assert_eq!(c.run((), 1, 7, panics).await.ok(), None);
        assert_eq!(c.run((), 1, 7, doubles).await.ok(), Some(14));
    }
}
