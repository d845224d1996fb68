//! Outgoing mail: an SMTP server when one is configured, otherwise one file
//! per message in the outbox folder so a fresh install works offline.
//!
//! Sending happens in the background: a slow mail server must not slow a
//! request down, nor let response times reveal whether an account exists.

use std::path::PathBuf;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

#[derive(Clone)]
pub enum Mailer {
    Outbox(PathBuf),
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

/// One message. Bodies never carry clinical text: they say that something
/// happened and point to the app.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mailer {
    pub fn from_config(config: &MailConfig) -> anyhow::Result<Mailer> {
        Ok(match config {
            MailConfig::Outbox(dir) => Mailer::Outbox(dir.clone()),
            MailConfig::Smtp { url, from } => Mailer::Smtp {
                transport: Box::new(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                        .context("reading the SMTP URL")?
                        .build(),
                ),
                from: from.parse().context("reading the mail sender address")?,
            },
        })
    }

    /// Queues `mail` for delivery; failures are logged, never returned.
    pub fn send(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(err) = mailer.deliver(&mail).await {
                tracing::warn!(error = %format!("{err:#}"), "mail delivery failed");
            }
        });
    }

    /// Delivers `mail` now.
    pub async fn deliver(&self, mail: &Mail) -> anyhow::Result<()> {
        match self {
            Mailer::Outbox(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .context("creating the outbox folder")?;
                let name = format!(
                    "{}-{}.eml",
                    jiff::Timestamp::now().as_millisecond(),
                    crate::crypto::random_token(6)
                );
                let text = format!(
                    "To: {}\r\nFrom: Healing Space <no-reply@localhost>\r\nSubject: {}\r\n\
                     Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                    mail.to, mail.subject, mail.body
                );
                let tmp = dir.join(format!("{name}.tmp"));
                tokio::fs::write(&tmp, text)
                    .await
                    .context("writing to the outbox")?;
                // Rename so a reader never sees half a message.
                tokio::fs::rename(&tmp, dir.join(name))
                    .await
                    .context("writing to the outbox")?;
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(mail.to.parse().context("reading the recipient address")?)
                    .subject(&mail.subject)
                    .body(mail.body.clone())
                    .context("building the message")?;
                transport
                    .send(message)
                    .await
                    .context("sending through SMTP")?;
                Ok(())
            }
        }
    }
}
