//! Every column that holds a secret sealed with the server's key, so the key can be changed
//! (and values written before sealing existed can be sealed) in one place.

use sqlx::Row;

use crate::{Conn, Result, Sql};

/// A column of sealed values, with its table's key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    TotpSecret,
    OidcSigningKey,
    WebhookSecret,
    WebhookPreviousSecret,
    /// The key that signs audit archives.
    AuditArchiveKey,
}

impl Column {
    pub const ALL: [Column; 5] = [
        Column::TotpSecret,
        Column::OidcSigningKey,
        Column::WebhookSecret,
        Column::WebhookPreviousSecret,
        Column::AuditArchiveKey,
    ];

    /// (table, key column, sealed column, the rows of the table that hold such values)
    fn place(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Column::TotpSecret => ("users", "id", "totp_secret", "TRUE"),
            Column::OidcSigningKey => ("oidc_signing_keys", "kid", "sealed_key", "TRUE"),
            Column::WebhookSecret => ("webhook_endpoints", "id", "secret_sealed", "TRUE"),
            Column::WebhookPreviousSecret => ("webhook_endpoints", "id", "previous_sealed", "TRUE"),
            Column::AuditArchiveKey => ("server_keys", "name", "secret", "name = 'audit_archives'"),
        }
    }
}

/// Up to `limit` (key, value) pairs of `column` whose value does not start with `prefix`,
/// in key order after `after`: the values still to seal under the current key.
pub async fn not_starting_with(
    conn: &mut Conn,
    column: Column,
    prefix: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    let (table, key, value, rows) = column.place();
    let mut q = Sql::new(&format!(
        "SELECT {key}, {value} FROM {table} WHERE {rows} AND {value} IS NOT NULL AND {key} > "
    ));
    q.bind(after.to_string())
        .push(&format!(" AND {value} NOT LIKE "))
        .bind(format!("{prefix}%"))
        .push(&format!(" ORDER BY {key} LIMIT "))
        .bind(limit);
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Puts `new` in place of `old` (unchanged since it was read); returns whether it did.
pub async fn replace(
    conn: &mut Conn,
    column: Column,
    key: &str,
    old: &str,
    new: &str,
) -> Result<bool> {
    let (table, key_column, value, _) = column.place();
    let mut q = Sql::update(table, |set| {
        set.set(value, new.to_string());
    });
    q.push(&format!(" WHERE {key_column} = "))
        .bind(key.to_string())
        .push(&format!(" AND {value} = "))
        .bind(old.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}
