//! The one interface every companion model sits behind, and the
//! OpenAI-compatible backend.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::local::LocalCompanion;
use crate::config::{Companion, ModelBackend};

/// Who says a message in the context sent to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// What a model is asked: system messages first, then the conversation,
/// ending with the patient's new message.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub messages: Vec<Message>,
    /// Facts the local companion may use without parsing prose.
    pub summary: super::context::RecordSummary,
}

/// Why a model gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the model service could not be reached")]
    Unreachable,
    #[error("the model service answered with status {0}")]
    Status(u16),
    #[error("the model's answer could not be read")]
    Malformed,
    #[error("the model gave an empty answer")]
    Empty,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A chat model: given the context, the companion's next reply.
pub trait ChatModel: Send + Sync {
    fn reply<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<String, ModelError>>;

    /// A name for logs and the stored reply.
    fn name(&self) -> &str;
}

/// Builds the configured model.
pub fn from_config(config: &Companion) -> anyhow::Result<Box<dyn ChatModel>> {
    Ok(match &config.backend {
        ModelBackend::Local => Box::new(LocalCompanion),
        ModelBackend::OpenAi {
            base_url,
            model,
            api_key,
        } => Box::new(OpenAiModel::new(
            base_url,
            model,
            api_key.clone(),
            config.timeout,
            config.max_retries,
        )?),
    })
}

/// Any OpenAI-compatible `POST {base_url}/chat/completions` endpoint:
/// hosted services, llama.cpp's server, Ollama and the like.
pub struct OpenAiModel {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    max_retries: u32,
}

#[derive(Serialize)]
struct CompletionRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    temperature: f32,
    max_tokens: u32,
}

#[derive(Deserialize)]
struct CompletionResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

impl OpenAiModel {
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
        max_retries: u32,
    ) -> anyhow::Result<OpenAiModel> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(OpenAiModel {
            client,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key,
            max_retries,
        })
    }

    async fn attempt(&self, request: &ModelRequest) -> Result<String, ModelError> {
        let body = CompletionRequest {
            model: &self.model,
            messages: &request.messages,
            temperature: 0.7,
            max_tokens: 600,
        };
        let mut rb = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            rb = rb.bearer_auth(key);
        }
        let response = rb.send().await.map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ModelError::Status(status.as_u16()));
        }
        // Read with a bound so a misbehaving server cannot flood memory.
        let bytes = response.bytes().await.map_err(classify)?;
        if bytes.len() > 1024 * 1024 {
            return Err(ModelError::Malformed);
        }
        let parsed: CompletionResponse =
            serde_json::from_slice(&bytes).map_err(|_| ModelError::Malformed)?;
        let text = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or(ModelError::Empty)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(ModelError::Empty);
        }
        Ok(text.chars().take(8000).collect())
    }
}

fn classify(err: reqwest::Error) -> ModelError {
    if err.is_timeout() {
        ModelError::Timeout
    } else if err.is_decode() || err.is_body() {
        ModelError::Malformed
    } else {
        ModelError::Unreachable
    }
}

impl ChatModel for OpenAiModel {
    fn reply<'a>(&'a self, request: &'a ModelRequest) -> BoxFuture<'a, Result<String, ModelError>> {
        Box::pin(async move {
            let mut tries = 0;
            loop {
                let result = self.attempt(request).await;
                // Retry only what a second try can fix quickly; a timeout
                // has used the patient's patience already.
                let retryable = matches!(
                    result,
                    Err(ModelError::Unreachable) | Err(ModelError::Status(429 | 500..=599))
                );
                if !retryable || tries >= self.max_retries {
                    return result;
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250 * u64::from(tries))).await;
            }
        })
    }

    fn name(&self) -> &str {
        &self.model
    }
}
