//! The taxonomy code list an organization loads (codes and their names). Rollcall ships no
//! list of its own beyond the demo's: names resolve only from what the organization loaded.

use std::collections::BTreeMap;

use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql};

/// Replaces the organization's whole list. Run it in a transaction: readers then see either the
/// old list or the new one, never a mix or an empty list.
pub async fn replace_for_org(
    conn: &mut Conn,
    org_id: Uuid,
    codes: &[(String, String)],
) -> Result<()> {
    let mut q = Sql::new("DELETE FROM taxonomy_codes WHERE org_id = ");
    q.bind(org_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(insert_rows(
        conn,
        "taxonomy_codes",
        "org_id, code, name",
        codes,
        rows_per_statement(3),
        |(code, name), row| {
            row.bind(org_id.to_string())
                .bind(code.clone())
                .bind(name.clone());
        },
    )
    .await?)
}

/// The names of those of `codes` the organization's list holds, by code.
pub async fn names(
    conn: &mut Conn,
    org_id: Uuid,
    codes: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for chunk in codes.chunks(crate::sql::MAX_PARAMS - 1) {
        let mut q = Sql::new("SELECT code, name FROM taxonomy_codes WHERE org_id = ");
        q.bind(org_id.to_string())
            .push(" AND code IN (")
            .bind_list(chunk.iter().cloned())
            .push(")");
        for r in q.fetch_all(&mut *conn).await? {
            out.insert(r.try_get(0)?, r.try_get(1)?);
        }
    }
    Ok(out)
}

/// Every code of the organization's list.
pub async fn codes(conn: &mut Conn, org_id: Uuid) -> Result<Vec<String>> {
    let mut q = Sql::new("SELECT code FROM taxonomy_codes WHERE org_id = ");
    q.bind(org_id.to_string());
    q.fetch_all_as(&mut *conn, |r| Ok(r.try_get(0)?)).await
}

/// How many codes the organization's list holds.
pub async fn count(conn: &mut Conn, org_id: Uuid) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM taxonomy_codes WHERE org_id = ");
    q.bind(org_id.to_string());
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}
