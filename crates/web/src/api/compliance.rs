//! The compliance summary for auditors (scope users:read), as JSON or CSV.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rollcall_app::App;
use rollcall_app::compliance::{self, ComplianceSummary};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::query::{StrictQuery, params};
use super::responses::{Forbidden, Internal, Unauthenticated};
use super::{PROBLEM, Problem};
use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(summary))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct SummaryQuery {
    /// `json` (default) or `csv` (one row per clinic).
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

params!(SummaryQuery: "format");

/// The compliance summary
///
/// People by status, company admins and each clinic's admins (after the rules), second-factor
/// coverage of active people, and per clinic how long leavers kept access after their leaving
/// date (median and worst). Clinics are those the caller reaches. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/compliance",
    tag = "reference",
    operation_id = "compliance_summary",
    params(SummaryQuery),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The summary", content(
            (ComplianceSummary = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take, or an unknown format", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn summary(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(q): StrictQuery<SummaryQuery>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(rollcall_app::domain::ValueError::new(
                "format",
                "format_unknown",
                format!("“{other}” is not a format of the summary: use json or csv."),
            )
            .into());
        }
    };
    let summary = compliance::summary(&app, &caller.principal).await?;
    Ok(if csv {
        let body = compliance::to_csv(&summary)?;
        crate::console::download("text/csv; charset=utf-8", "compliance.csv", body)
    } else {
        Json(summary).into_response()
    })
}
