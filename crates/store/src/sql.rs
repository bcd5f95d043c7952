//! A small builder for SQL with numbered `$n` placeholders, which both engines accept.
//! (sqlx's `QueryBuilder` emits `?` for the `Any` driver, which PostgreSQL rejects.)

use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::{Arguments, Encode, Type};

/// Bound parameters per multi-row statement. sqlx-sqlite finds each `$n` by walking the
/// statement's parameter names, so binding costs grow with the square of their number: about a
/// thousand per statement keeps that small while still writing many rows per round trip.
pub const MAX_PARAMS: usize = 1_000;

/// Rows per multi-row `VALUES` statement for a table row of `columns` values.
pub const fn rows_per_statement(columns: usize) -> usize {
    let n = MAX_PARAMS / columns;
    if n == 0 { 1 } else { n }
}

#[derive(Default)]
pub struct Sql {
    text: String,
    args: AnyArguments<'static>,
    count: usize,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            ..Default::default()
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub fn bind<T>(&mut self, value: T) -> &mut Sql
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        self.args
            .add(value)
            .expect("binding a plain value cannot fail");
        self
    }

    /// Binds each value separated by commas, e.g. inside `IN (…)` or a `VALUES` row.
    pub fn bind_list<T, I>(&mut self, values: I) -> &mut Sql
    where
        I: IntoIterator<Item = T>,
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self
    }

    pub fn len_args(&self) -> usize {
        self.count
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub async fn execute<'c, E>(self, conn: E) -> Result<u64, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        Ok(sqlx::query_with(&self.text, self.args)
            .execute(conn)
            .await?
            .rows_affected())
    }

    pub async fn fetch_all<'c, E>(self, conn: E) -> Result<Vec<AnyRow>, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        sqlx::query_with(&self.text, self.args)
            .fetch_all(conn)
            .await
    }

    pub async fn fetch_optional<'c, E>(self, conn: E) -> Result<Option<AnyRow>, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        sqlx::query_with(&self.text, self.args)
            .fetch_optional(conn)
            .await
    }

    pub async fn fetch_one<'c, E>(self, conn: E) -> Result<AnyRow, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        sqlx::query_with(&self.text, self.args)
            .fetch_one(conn)
            .await
    }
}

/// Inserts rows of a two-column link table (`user_roles`, `user_locations`, …) in multi-row
/// batches; rows already there are left as they are.
pub async fn insert_pairs<A: ToString, B: ToString>(
    conn: &mut crate::Conn,
    table: &str,
    columns: (&str, &str),
    pairs: &[(A, B)],
) -> Result<(), sqlx::Error> {
    for chunk in pairs.chunks(rows_per_statement(2)) {
        let mut q = Sql::new(&format!(
            "INSERT INTO {table} ({}, {}) VALUES ",
            columns.0, columns.1
        ));
        for (i, (a, b)) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" })
                .bind(a.to_string())
                .push(", ")
                .bind(b.to_string())
                .push(")");
        }
        q.push(" ON CONFLICT DO NOTHING");
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
