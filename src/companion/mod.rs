//! The AI companion (SPEC §10): conversations with a pluggable model,
//! every patient message screened for risk before any model sees it.
//!
//! The order of a chat turn is fixed so that no failure can hide a
//! warning: screen the message (raising the alert), store it, then ask
//! the model; whatever the model does (answer, fail, time out, say
//! something unsafe) the patient gets a stored, labelled reply, and on high
//! risk that reply starts with the crisis resources.

use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::accounts::session::PatientUser;
use crate::audit::{self, Event};
use crate::care_team::gate::{self, PatientAccess};
use crate::error::{AppError, AppResult};
use crate::exports::csv;
use crate::http::extract::{Json, Query, parse_json};
use crate::risk::{self, Level, RiskOutcome, Source};
use crate::types::{Text, check_no_controls, local_date, rfc3339};

pub mod context;
pub mod local;
pub mod model;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/therapy/chat", post(chat))
        .route(
            "/api/therapy/conversations",
            get(list_conversations).post(create_conversation),
        )
        .route(
            "/api/therapy/conversations/{id}",
            get(get_conversation)
                .patch(rename_conversation)
                .delete(delete_conversation),
        )
        .route(
            "/api/therapy/conversations/{id}/export",
            get(export_conversation),
        )
}

/// A chat message: 1–10,000 characters after trimming, no control
/// characters but newline and tab.
pub struct ChatText(String);

impl ChatText {
    pub fn parse(raw: &str) -> Result<ChatText, String> {
        let text = raw.trim();
        let count = text.chars().count();
        if !(1..=10_000).contains(&count) {
            return Err(format!(
                "must be 1 to 10000 characters after trimming (got {count})"
            ));
        }
        check_no_controls(text)?;
        Ok(ChatText(text.to_owned()))
    }
}

impl fmt::Debug for ChatText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChatText({} chars)", self.0.chars().count())
    }
}

impl<'de> Deserialize<'de> for ChatText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ChatText::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatRequest {
    message: ChatText,
    conversation_id: Option<i64>,
}

/// Replaces a model reply that failed the risk screen.
const WITHHELD: &str = "I'm sorry, I can't give a good answer to that. If things feel hard \
right now, please reach out to your care team or one of the services listed here. What would \
help you most at the moment?";

/// The crisis resources as the opening of a reply.
fn crisis_preamble(state: &AppState, care_team_told: bool) -> String {
    let lines: Vec<String> = state
        .config
        .clinical
        .crisis_resources
        .iter()
        .map(|r| format!("- {} ({}): {}", r.name, r.region, r.contact))
        .collect();
    let care_team = if care_team_told {
        "Your care team has been told."
    } else {
        "You have no clinician linked in Healing Space yet, so nobody here has been told."
    };
    format!(
        "If you are in danger or might act on these thoughts, please contact one of these now:\n{}\n\
         {care_team}",
        lines.join("\n")
    )
}

fn risk_name(level: Level) -> &'static str {
    risk::level_name(level)
}

const TITLE_FIELD: &str = "conversation.title";
const CONTENT_FIELD: &str = "chat.content";

fn open_conv(access: &PatientAccess, mut row: ConvRow) -> AppResult<ConvRow> {
    row.1 = access.key().open(TITLE_FIELD, &row.1)?;
    Ok(row)
}

fn open_msg(access: &PatientAccess, mut row: MsgRow) -> AppResult<MsgRow> {
    row.2 = access.key().open(CONTENT_FIELD, &row.2)?;
    Ok(row)
}

async fn own_conversation(state: &AppState, access: &PatientAccess, id: i64) -> AppResult<ConvRow> {
    let row: ConvRow = sqlx::query_as(
        "SELECT id, title, created_at, updated_at FROM conversations WHERE id = $1 \
         AND patient_id = $2",
    )
    .bind(id)
    .bind(access.patient_id())
    .fetch_optional(state.db.pool())
    .await?
    .ok_or(AppError::NotFound)?;
    open_conv(access, row)
}

type ConvRow = (i64, String, i64, i64);
type MsgRow = (i64, String, String, String, String, i64);

fn conv_json(row: &ConvRow) -> Value {
    json!({
        "id": row.0,
        "title": row.1,
        "created_at": rfc3339(row.2),
        "updated_at": rfc3339(row.3),
    })
}

fn msg_json(row: &MsgRow) -> Value {
    json!({
        "id": row.0,
        "role": row.1,
        "content": row.2,
        "status": row.3,
        "risk_level": row.4,
        "created_at": rfc3339(row.5),
    })
}

async fn new_conversation(
    state: &AppState,
    access: &PatientAccess,
    title: Option<&str>,
) -> AppResult<ConvRow> {
    let now = state.clock.now();
    let title = title
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Conversation of {}", local_date(now, access.time_zone())));
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO conversations (patient_id, title, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(access.patient_id())
    .bind(access.key().seal(TITLE_FIELD, &title))
    .bind(now)
    .fetch_one(state.db.pool())
    .await?;
    Ok((id, title, now, now))
}

async fn insert_message(
    state: &AppState,
    access: &PatientAccess,
    conversation: i64,
    role: &str,
    content: &str,
    status: &str,
    level: Level,
) -> AppResult<MsgRow> {
    let now = state.clock.now();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO chat_messages (conversation_id, role, content, status, risk_level, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(conversation)
    .bind(role)
    .bind(access.key().seal(CONTENT_FIELD, content))
    .bind(status)
    .bind(risk_name(level))
    .bind(now)
    .fetch_one(state.db.pool())
    .await?;
    sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(conversation)
        .execute(state.db.pool())
        .await?;
    Ok((
        id,
        role.to_owned(),
        content.to_owned(),
        status.to_owned(),
        risk_name(level).to_owned(),
        now,
    ))
}

/// `POST /api/therapy/chat`.
pub(crate) async fn chat(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Json(raw): Json<Value>,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    // 1. Screen the words before anything can refuse the request: a
    // refusal (an invalid field, an unknown conversation, the rate limit)
    // must never hide a warning, so it carries the crisis resources too.
    let words = raw
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    let outcome = if words.is_empty() {
        RiskOutcome::none()
    } else {
        risk::screen_texts(&state, &access, Source::Chat, &[words]).await?
    };
    let refuse = |err: AppError| {
        let mut extra = Map::new();
        if outcome.is_risk() {
            extra.insert("risk".into(), outcome.to_json(&state));
        }
        Ok(err.into_response_with(extra))
    };
    let body: ChatRequest = match parse_json(&serde_json::to_vec(&raw).unwrap_or_default()) {
        Ok(body) => body,
        Err(err) => return refuse(err),
    };
    let message = body.message.0;
    if let Err(retry) = state.limiter.check(
        "chat",
        &user.id.to_string(),
        state.config.rate_limits.chat_per_user,
    ) {
        return refuse(AppError::rate_limited(retry));
    }
    let conversation = match body.conversation_id {
        Some(id) => match own_conversation(&state, &access, id).await {
            Ok(c) => c,
            Err(err) => return refuse(err),
        },
        None => new_conversation(&state, &access, None).await?,
    };
    // Earlier turns, before the new message is stored. Notices and
    // withheld replies are not the model's words and stay out of context.
    let history: Vec<(String, String)> = sqlx::query_as(
        "SELECT role, content FROM chat_messages WHERE conversation_id = $1 AND status = 'ok' \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(conversation.0)
    .bind(state.config.companion.history_messages as i64)
    .fetch_all(state.db.pool())
    .await?
    .into_iter()
    .rev()
    .map(|(role, content): (String, String)| {
        Ok((role, access.key().open(CONTENT_FIELD, &content)?))
    })
    .collect::<AppResult<_>>()?;

    // 2. Keep the patient's words.
    let stored = insert_message(
        &state,
        &access,
        conversation.0,
        "user",
        &message,
        "ok",
        outcome.level,
    )
    .await?;
    // 3. Ask the model, bounded in time even if a backend forgets to be.
    let (context, summary) = context::build(&state, &access, &history, &message).await?;
    let request = model::ModelRequest {
        messages: context,
        summary,
    };
    let limit = state.config.companion.timeout * (state.config.companion.max_retries + 1)
        + Duration::from_secs(2);
    let answer = match tokio::time::timeout(limit, state.model.reply(&request)).await {
        Ok(answer) => answer,
        Err(_) => Err(model::ModelError::Timeout),
    };
    // 4. Screen the reply too, and label anything that is not a reply.
    let (mut content, status) = match answer {
        Ok(text) => {
            let verdict = risk::screen(&text);
            if verdict.level > Level::None && outcome.level == Level::None {
                audit::record(
                    &state.db,
                    state.clock.now(),
                    Event::new("companion.reply_withheld", "ok")
                        .target(access.patient_id())
                        .detail(json!({ "reason": verdict.reason, "model": state.model.name() })),
                )
                .await?;
                (WITHHELD.to_owned(), "withheld")
            } else {
                (text, "ok")
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, model = state.model.name(), "companion model failed");
            (
                format!(
                    "[Notice: the companion could not answer ({err}). Your message has been \
                     saved; please try again in a moment.]"
                ),
                "error",
            )
        }
    };
    if outcome.level == Level::High {
        content = format!(
            "{}\n\n{content}",
            crisis_preamble(&state, outcome.care_team_told)
        );
    }
    let reply = insert_message(
        &state,
        &access,
        conversation.0,
        "assistant",
        &content,
        status,
        Level::None,
    )
    .await?;
    Ok(axum::Json(json!({
        "conversation_id": conversation.0,
        "message": msg_json(&stored),
        "reply": msg_json(&reply),
        "risk": outcome.to_json(&state),
    }))
    .into_response())
}

/// Every conversation of the patient with its messages, for the full copy.
pub async fn export_all(state: &AppState, access: &PatientAccess) -> AppResult<Value> {
    let conversations: Vec<ConvRow> = sqlx::query_as(
        "SELECT id, title, created_at, updated_at FROM conversations WHERE patient_id = $1 \
         ORDER BY id",
    )
    .bind(access.patient_id())
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::with_capacity(conversations.len());
    for c in conversations {
        let c = open_conv(access, c)?;
        let mut j = conv_json(&c);
        j["messages"] = json!(
            messages(state, access, c.0)
                .await?
                .iter()
                .map(msg_json)
                .collect::<Vec<_>>()
        );
        out.push(j);
    }
    Ok(Value::Array(out))
}

pub(crate) async fn list_conversations(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    let rows: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT c.id, c.title, c.created_at, c.updated_at, \
         (SELECT COUNT(*) FROM chat_messages m WHERE m.conversation_id = c.id) \
         FROM conversations c WHERE c.patient_id = $1 ORDER BY c.updated_at DESC, c.id DESC",
    )
    .bind(access.patient_id())
    .fetch_all(state.db.pool())
    .await?;
    let mut list = Vec::with_capacity(rows.len());
    for (id, title, created, updated, count) in rows {
        let mut j = conv_json(&open_conv(&access, (id, title, created, updated))?);
        j["message_count"] = json!(count);
        list.push(j);
    }
    Ok(axum::Json(json!({ "conversations": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TitleBody {
    title: Option<Text<1, 100>>,
}

async fn create_conversation(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    body: Option<Json<TitleBody>>,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    let title = body.and_then(|Json(b)| b.title);
    let row = new_conversation(&state, &access, title.as_ref().map(|t| t.as_str())).await?;
    Ok((StatusCode::CREATED, axum::Json(conv_json(&row))).into_response())
}

async fn messages(
    state: &AppState,
    access: &PatientAccess,
    conversation: i64,
) -> AppResult<Vec<MsgRow>> {
    let rows: Vec<MsgRow> = sqlx::query_as(
        "SELECT id, role, content, status, risk_level, created_at FROM chat_messages \
         WHERE conversation_id = $1 ORDER BY id",
    )
    .bind(conversation)
    .fetch_all(state.db.pool())
    .await?;
    rows.into_iter().map(|r| open_msg(access, r)).collect()
}

pub(crate) async fn get_conversation(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    let conversation = own_conversation(&state, &access, id).await?;
    let msgs = messages(&state, &access, id).await?;
    let mut body = conv_json(&conversation);
    body["messages"] = json!(msgs.iter().map(msg_json).collect::<Vec<_>>());
    Ok(axum::Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    title: Text<1, 100>,
}

async fn rename_conversation(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Path(id): Path<i64>,
    Json(body): Json<Rename>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    own_conversation(&state, &access, id).await?;
    sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2 AND patient_id = $3")
        .bind(access.key().seal(TITLE_FIELD, body.title.as_str()))
        .bind(id)
        .bind(access.patient_id())
        .execute(state.db.pool())
        .await?;
    Ok(axum::Json(conv_json(
        &own_conversation(&state, &access, id).await?,
    )))
}

async fn delete_conversation(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    own_conversation(&state, &access, id).await?;
    let mut tx = state.db.pool().begin().await?;
    sqlx::query("DELETE FROM chat_messages WHERE conversation_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM conversations WHERE id = $1 AND patient_id = $2")
        .bind(id)
        .bind(access.patient_id())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(json!({ "deleted": 1 })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

/// A download with a file name chosen by the server.
pub fn attachment(content_type: &'static str, file_name: &str, body: String) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    response
}

async fn export_conversation(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Path(id): Path<i64>,
    Query(query): Query<ExportQuery>,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    let conversation = own_conversation(&state, &access, id).await?;
    let msgs = messages(&state, &access, id).await?;
    let format = query.format.unwrap_or_else(|| "text".into());
    let name = format!("conversation-{id}");
    Ok(match format.as_str() {
        "json" => {
            let mut body = conv_json(&conversation);
            body["messages"] = json!(msgs.iter().map(msg_json).collect::<Vec<_>>());
            attachment(
                "application/json",
                &format!("{name}.json"),
                serde_json::to_string_pretty(&body).unwrap_or_default(),
            )
        }
        "csv" => {
            let mut rows = vec![vec![
                "id".to_owned(),
                "created_at".to_owned(),
                "role".to_owned(),
                "status".to_owned(),
                "content".to_owned(),
            ]];
            for m in &msgs {
                rows.push(vec![
                    m.0.to_string(),
                    rfc3339(m.5),
                    m.1.clone(),
                    m.3.clone(),
                    m.2.clone(),
                ]);
            }
            attachment(
                "text/csv; charset=utf-8",
                &format!("{name}.csv"),
                csv::document(rows),
            )
        }
        "text" => {
            let mut out = format!(
                "{}\n{}\n\n",
                conversation.1,
                "=".repeat(conversation.1.chars().count())
            );
            for m in &msgs {
                let who = if m.1 == "user" { "You" } else { "Companion" };
                out.push_str(&format!("[{}] {who}:\n{}\n\n", rfc3339(m.5), m.2));
            }
            attachment("text/plain; charset=utf-8", &format!("{name}.txt"), out)
        }
        _ => {
            return Err(AppError::invalid_field(
                "format",
                "must be text, json or csv",
            ));
        }
    })
}
