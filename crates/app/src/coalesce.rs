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

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::AppError;

/// The items waiting for the next group, each with where its outcome goes.
type Waiting<I, O> = Vec<(I, oneshot::Sender<O>)>;

type Queues<K, I, O> = Arc<Mutex<HashMap<K, Waiting<I, O>>>>;

/// Groups items by key. A key has an entry exactly while a task is writing its groups.
pub struct Coalescer<K, I, O> {
    queues: Queues<K, I, O>,
    /// The most items one group takes.
    most: usize,
}

impl<K, I, O> Coalescer<K, I, O>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    I: Send + 'static,
    O: Send + 'static,
{
    pub fn new(most: usize) -> Self {
        Coalescer {
            queues: Arc::default(),
            most: most.max(1),
        }
    }

    /// Runs `item` in a group with the items of the same key that wait meanwhile. `work` takes
    /// a group and answers one outcome per item, in order. `None` if the group's work failed
    /// without an answer for this item (it panicked).
    pub async fn run<W>(&self, key: K, item: I, work: W) -> Option<O>
    where
        W: Fn(Vec<I>) -> BoxFuture<'static, Vec<O>> + Send + 'static,
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
            tokio::spawn(drain(self.queues.clone(), key, self.most, work));
        }
        answer.await.ok()
    }
}

/// Writes a key's groups until nobody waits.
async fn drain<K, I, O, W>(queues: Queues<K, I, O>, key: K, most: usize, work: W)
where
    K: Hash + Eq,
    W: Fn(Vec<I>) -> BoxFuture<'static, Vec<O>>,
{
    let mut forget = Forget {
        queues: &queues,
        key: Some(&key),
    };
    loop {
        let group: Waiting<I, O> = {
            let mut queues = lock(&queues);
            let waiting = queues
                .get_mut(&key)
                .expect("a key has an entry while its groups are written");
            if waiting.is_empty() {
                queues.remove(&key);
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

/// If a group's work panics, its key is forgotten and those still waiting are answered `None`,
/// so the next request starts afresh instead of waiting for a task that is gone.
struct Forget<'a, K: Hash + Eq, I, O> {
    queues: &'a Queues<K, I, O>,
    key: Option<&'a K>,
}

impl<K: Hash + Eq, I, O> Drop for Forget<'_, K, I, O> {
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
    use futures::FutureExt;
    use std::time::Duration;

    #[tokio::test]
    async fn requests_arriving_during_a_group_are_written_as_the_next_group() {
        let c = Arc::new(Coalescer::<u8, u32, (u32, usize)>::new(100));
        let work = |items: Vec<u32>| {
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = items.len();
                items.into_iter().map(|i| (i, n)).collect()
            }
            .boxed()
        };
        let first = {
            let c = c.clone();
            tokio::spawn(async move { c.run(1, 0, work).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let rest: Vec<_> = (1..=5)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move { c.run(1, i, work).await })
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

    #[tokio::test]
    async fn a_group_that_panics_answers_none_and_the_next_request_starts_afresh() {
        let c = Coalescer::<u8, u32, u32>::new(10);
        let panics = |_: Vec<u32>| async move { panic!("the work failed") }.boxed();
        assert_eq!(c.run(1, 7, panics).await, None);
        let doubles =
            |items: Vec<u32>| async move { items.iter().map(|i| i * 2).collect() }.boxed();
        assert_eq!(c.run(1, 7, doubles).await, Some(14));
    }
}
