//! A small builder for SQL with placeholders each engine binds fastest: numbered `$n` for
//! PostgreSQL, anonymous `?` for SQLite. (sqlx's `QueryBuilder` emits `?` for the `Any` driver,
//! which PostgreSQL rejects; and SQLite finds a named parameter such as `$n` by walking the
//! statement's list of names, so binding `$n` costs grow with the square of their number.)
//!
//! Lists are written through [`List`], which puts the commas between items, so a statement names
//! each column and value once: `Sql::insert_into` with `values_row` / `values_rows` (or
//! `insert_rows` for many rows in chunks), `Sql::update` for `SET` assignments, `bind_list` for
//! `IN (…)`.

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

/// A value `bind` accepts: one the `Any` driver can encode.
pub trait Value: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static {}

impl<T> Value for T where T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static {}

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

    /// `INSERT INTO table (columns) VALUES `, for `values_row` or `values_rows` to follow.
    pub fn insert_into(table: &str, columns: &str) -> Sql {
        Sql::new(&format!("INSERT INTO {table} ({columns}) VALUES "))
    }

    /// `UPDATE table SET a = …, b = …` with the assignments `assign` writes (`List::set`), for
    /// the `WHERE` clause to follow.
    pub fn update(table: &str, assign: impl FnOnce(&mut List<'_>)) -> Sql {
        let mut q = Sql::new(&format!("UPDATE {table} SET "));
        q.list(assign);
        q
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self.anonymous.push_str(text);
        self
    }

    pub fn bind<T: Value>(&mut self, value: T) -> &mut Sql {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        self.anonymous.push('?');
        self.args
            .add(value)
            .expect("binding a plain value cannot fail");
        self
    }

    /// Writes the items `write` adds, separated by commas and without brackets: a `SELECT` list,
    /// `SET` assignments.
    pub fn list(&mut self, write: impl FnOnce(&mut List<'_>)) -> &mut Sql {
        write(&mut List {
            sql: self,
            empty: true,
        });
        self
    }

    /// Binds each value separated by commas, e.g. inside `IN (…)`.
    pub fn bind_list<T: Value>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Sql {
        self.list(|list| {
            for value in values {
                list.bind(value);
            }
        })
    }

    /// Writes one row of a `VALUES` list, `(…)`, with the values `write` adds.
    pub fn values_row(&mut self, write: impl FnOnce(&mut List<'_>)) -> &mut Sql {
        self.push("(").list(write).push(")")
    }

    /// Writes a row `(…)` per item of `rows`, separated by commas, each with the values `write`
    /// adds for it.
    pub fn values_rows<R>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
        mut write: impl FnMut(R, &mut List<'_>),
    ) -> &mut Sql {
        for (i, row) in rows.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.values_row(|values| write(row, values));
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

    /// Every row the statement returns, each read by `read` (a table's `from_row`).
    pub async fn fetch_all_as<T, E: From<sqlx::Error>>(
        self,
        conn: &mut AnyConnection,
        read: impl Fn(&AnyRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        self.fetch_all(conn).await?.iter().map(read).collect()
    }

    /// The row the statement returns, if any, read by `read` (a table's `from_row`).
    pub async fn fetch_optional_as<T, E: From<sqlx::Error>>(
        self,
        conn: &mut AnyConnection,
        read: impl Fn(&AnyRow) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        self.fetch_optional(conn)
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }
}

/// A comma-separated list being written into a statement (a `VALUES` row, `SET` assignments,
/// a `SELECT` list): each item after the first is preceded by `, `.
pub struct List<'a> {
    sql: &'a mut Sql,
    empty: bool,
}

impl List<'_> {
    /// The statement, after the separator the next item needs.
    fn next_item(&mut self) -> &mut Sql {
        if !self.empty {
            self.sql.push(", ");
        }
        self.empty = false;
        self.sql
    }

    /// A bound value.
    pub fn bind<T: Value>(&mut self, value: T) -> &mut Self {
        self.next_item().bind(value);
        self
    }

    /// SQL written as it is: a literal such as `'queued'`, or an assignment such as
    /// `attempts = attempts + 1`.
    pub fn sql(&mut self, text: &str) -> &mut Self {
        self.next_item().push(text);
        self
    }

    /// The assignment `column = <bound value>`.
    pub fn set<T: Value>(&mut self, column: &str, value: T) -> &mut Self {
        self.next_item().push(column).push(" = ").bind(value);
        self
    }
}

/// Inserts `rows` into `table` in multi-row statements of at most `per_statement` rows (see
/// `rows_per_statement`), the values of each row written by `write`.
pub async fn insert_rows<R>(
    conn: &mut crate::Conn,
    table: &str,
    columns: &str,
    rows: &[R],
    per_statement: usize,
    write: impl FnMut(&R, &mut List<'_>),
) -> Result<(), sqlx::Error> {
    insert_chunks(conn, table, columns, rows, per_statement, "", write).await
}

/// Inserts rows of a two-column link table (`user_roles`, `user_locations`, …) in multi-row
/// batches; rows already there are left as they are.
pub async fn insert_pairs<A: ToString, B: ToString>(
    conn: &mut crate::Conn,
    table: &str,
    columns: (&str, &str),
    pairs: &[(A, B)],
) -> Result<(), sqlx::Error> {
    let columns = format!("{}, {}", columns.0, columns.1);
    insert_chunks(
        conn,
        table,
        &columns,
        pairs,
        rows_per_statement(2),
        " ON CONFLICT DO NOTHING",
        |(a, b), row| {
            row.bind(a.to_string()).bind(b.to_string());
        },
    )
    .await
}

/// `insert_rows` with `ending` after each statement's rows (an `ON CONFLICT` clause).
async fn insert_chunks<R>(
    conn: &mut crate::Conn,
    table: &str,
    columns: &str,
    rows: &[R],
    per_statement: usize,
    ending: &str,
    mut write: impl FnMut(&R, &mut List<'_>),
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(per_statement) {
        let mut q = Sql::insert_into(table, columns);
        q.values_rows(chunk, &mut write).push(ending);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement as PostgreSQL and as SQLite get it, and the values bound, in order.
    fn spelled(q: &Sql) -> (&str, &str, Vec<String>) {
        let bound = q.args.values.0.iter().map(|v| format!("{v:?}")).collect();
        (&q.text, &q.anonymous, bound)
    }

    #[test]
    fn one_row() {
        let mut q = Sql::insert_into("t", "a, b");
        q.values_rows([(7_i64, "x")], |(n, s), row| {
            row.bind(n).bind(s.to_string());
        });
        assert_eq!(
            spelled(&q),
            (
                "INSERT INTO t (a, b) VALUES ($1, $2)",
                "INSERT INTO t (a, b) VALUES (?, ?)",
                vec!["BigInt(7)".to_string(), "Text(\"x\")".to_string()],
            )
        );
    }

    #[test]
    fn several_rows_number_on_from_what_came_before() {
        let mut q = Sql::new("SELECT ");
        q.bind(0_i64).push(" FROM (VALUES ");
        q.values_rows(1..=3_i64, |n, row| {
            row.bind(n).sql("'k'").bind(n * 10);
        })
        .push(") AS v WHERE x = ")
        .bind(9_i64);
        let (numbered, anonymous, bound) = spelled(&q);
        assert_eq!(
            numbered,
            "SELECT $1 FROM (VALUES ($2, 'k', $3), ($4, 'k', $5), ($6, 'k', $7)) AS v WHERE x = $8"
        );
        assert_eq!(
            anonymous,
            "SELECT ? FROM (VALUES (?, 'k', ?), (?, 'k', ?), (?, 'k', ?)) AS v WHERE x = ?"
        );
        let expected: Vec<String> = [0, 1, 10, 2, 20, 3, 30, 9]
            .iter()
            .map(|n| format!("BigInt({n})"))
            .collect();
        assert_eq!(bound, expected);
        assert_eq!(q.len_args(), 8);
    }

    #[test]
    fn no_rows_write_nothing() {
        let mut q = Sql::new("VALUES ");
        q.values_rows(Vec::<i64>::new(), |n, row| {
            row.bind(n);
        });
        assert_eq!(spelled(&q), ("VALUES ", "VALUES ", vec![]));
    }

    #[test]
    fn single_row() {
        let mut q = Sql::insert_into("t", "a, b, c");
        q.values_row(|row| {
            row.bind(1_i64).sql("NULL").bind(Some(2_i64));
        })
        .push(" ON CONFLICT DO NOTHING");
        let (numbered, anonymous, _) = spelled(&q);
        assert_eq!(
            numbered,
            "INSERT INTO t (a, b, c) VALUES ($1, NULL, $2) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            anonymous,
            "INSERT INTO t (a, b, c) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn update_assignments() {
        let mut q = Sql::update("t", |set| {
            set.set("a", 1_i64)
                .sql("n = n + 1")
                .set("b", "x".to_string());
        });
        q.push(" WHERE id = ").bind(3_i64);
        let (numbered, anonymous, bound) = spelled(&q);
        assert_eq!(
            numbered,
            "UPDATE t SET a = $1, n = n + 1, b = $2 WHERE id = $3"
        );
        assert_eq!(
            anonymous,
            "UPDATE t SET a = ?, n = n + 1, b = ? WHERE id = ?"
        );
        assert_eq!(bound, ["BigInt(1)", "Text(\"x\")", "BigInt(3)"]);
    }

    #[test]
    fn bind_list_one_and_several() {
        let mut q = Sql::new("SELECT 1 WHERE a = ");
        q.bind(0_i64)
            .push(" AND b IN (")
            .bind_list([1_i64])
            .push(") AND c IN (")
            .bind_list([2_i64, 3, 4])
            .push(")");
        let (numbered, anonymous, _) = spelled(&q);
        assert_eq!(
            numbered,
            "SELECT 1 WHERE a = $1 AND b IN ($2) AND c IN ($3, $4, $5)"
        );
        assert_eq!(
            anonymous,
            "SELECT 1 WHERE a = ? AND b IN (?) AND c IN (?, ?, ?)"
        );
    }

    #[test]
    fn rows_per_statement_stays_under_the_cap() {
        assert_eq!(rows_per_statement(7), 142);
        assert_eq!(rows_per_statement(MAX_PARAMS * 2), 1);
    }
}
