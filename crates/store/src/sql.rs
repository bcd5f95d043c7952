//! A small builder for SQL with placeholders each engine binds fastest: numbered `$n` for
//! PostgreSQL, anonymous `?` for SQLite. (sqlx's `QueryBuilder` emits `?` for the `Any` driver,
//! which PostgreSQL rejects; and SQLite finds a named parameter such as `$n` by walking the
//! statement's list of names, so binding `$n` costs grow with the square of their number.)

use sqlx::AnyConnection;
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::{Arguments, Encode, Type};

/// Bound parameters per multi-row statement: well under both engines' limits, while still
/// writing many rows per round trip.
pub const MAX_PARAMS: usize = 1_000;

/// Rows per multi-row `VALUES` statement for a table row of `columns` values.
pub const fn rows_per_statement(columns: usize) -> usize {
    let n = MAX_PARAMS / columns;
    if n == 0 { 1 } else { n }
}

#[derive(Default)]
pub struct Sql {
    /// With `$n` placeholders (PostgreSQL).
    text: String,
    /// The same with `?` placeholders (SQLite).
    anonymous: String,
    args: AnyArguments<'static>,
    count: usize,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            anonymous: text.to_string(),
            ..Default::default()
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self.anonymous.push_str(text);
        self
    }

    pub fn bind<T>(&mut self, value: T) -> &mut Sql
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        self.anonymous.push('?');
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
                self.push(", ");
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

    /// The statement in the placeholder style of the connection's engine.
    fn for_engine(&self, conn: &AnyConnection) -> &str {
        if is_sqlite(conn) {
            &self.anonymous
        } else {
            &self.text
        }
    }

    pub async fn execute(self, conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        let text = self.for_engine(conn).to_owned();
        Ok(sqlx::query_with(&text, self.args)
            .execute(conn)
            .await?
            .rows_affected())
    }

    pub async fn fetch_all(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, sqlx::Error> {
        let text = self.for_engine(conn).to_owned();
        sqlx::query_with(&text, self.args).fetch_all(conn).await
    }

    pub async fn fetch_optional(
        self,
        conn: &mut AnyConnection,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        let text = self.for_engine(conn).to_owned();
        sqlx::query_with(&text, self.args)
            .fetch_optional(conn)
            .await
    }

    pub async fn fetch_one(self, conn: &mut AnyConnection) -> Result<AnyRow, sqlx::Error> {
        let text = self.for_engine(conn).to_owned();
        sqlx::query_with(&text, self.args).fetch_one(conn).await
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

pub fn is_sqlite(conn: &AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("sqlite")
}

/// The aggregate that joins a column's values with commas: the one spelling the engines differ in.
pub fn comma_list(conn: &AnyConnection, column: &str) -> String {
    if is_sqlite(conn) {
        format!("group_concat({column}, ',')")
    } else {
        format!("string_agg({column}, ',')")
    }
}
