//! The audit trail's storage. A request that may change something runs inside `recording`,
//! which keeps a `Draft` of what is known about it in a task-local; the HTTP layer and the
//! store fill it in as the request is handled. Every write transaction (`WriteTx`) appends the
//! draft as an event *inside* the transaction it commits, so a change and its record land
//! together or not at all. Requests that changed nothing (refused, failed sign-ins) are
//! recorded afterwards by `record_audit`.

use crate::{Store, db, now_ms};
use orgplane_domain::audit::{ChainVerifier, Event, GENESIS, Kind, PLATFORM_CHAIN};
use orgplane_domain::ids::OrgId;
use orgplane_domain::outbox::Channel;
use orgplane_domain::{Error, Result, audit::Broken};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::sync::{Arc, Mutex};

/// What is known about the request being recorded.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub kind: Option<Kind>,
    pub org: Option<OrgId>,
    pub account_id: Option<String>,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub token_id: Option<i64>,
    pub resource_id: Option<String>,
    /// `api`, `cli`, …
    pub source: String,
    pub ip: Option<String>,
    pub agent: Option<String>,
    pub url: String,
    /// The query parameters and body, secrets already redacted.
    pub query: Value,
    pub body: Value,
    /// Set once an event for this request is stored.
    pub recorded: bool,
}

tokio::task_local! {
    static DRAFT: Arc<Mutex<Draft>>;
}

/// Runs `work` while recording `draft`; returns its output and the draft as it ended.
pub async fn recording<F: Future>(draft: Draft, work: F) -> (F::Output, Draft) {
    let cell = Arc::new(Mutex::new(draft));
    let out = DRAFT.scope(cell.clone(), work).await;
    let draft = cell.lock().expect("audit draft lock").clone();
    (out, draft)
}

/// Adds to the draft of the request being recorded; does nothing outside `recording`.
pub fn note(change: impl FnOnce(&mut Draft)) {
    let _ = DRAFT.try_with(|cell| change(&mut cell.lock().expect("audit draft lock")));
}

/// Names the resource a change created in the draft of the request being recorded.
pub fn created(resource_type: &str, id: &str) {
    note(|d| d.created(resource_type, id));
}

impl Draft {
    /// Names the resource a change created, when it is what the recorded request is about (a
    /// registration creates a person too, but is about the organization).
    pub fn created(&mut self, resource_type: &str, id: &str) {
        if self.resource_id.is_none() && self.kind.is_some_and(|k| k.resource_type == resource_type) {
            self.resource_id = Some(id.to_string());
            if resource_type == "account" {
                self.account_id.get_or_insert_with(|| id.to_string());
            }
        }
    }
}

/// The draft, when an event for it is still to be written.
pub(crate) fn pending() -> Option<Draft> {
    DRAFT
        .try_with(|cell| {
            let d = cell.lock().expect("audit draft lock");
            (!d.recorded && d.kind.is_some()).then(|| d.clone())
        })
        .ok()
        .flatten()
}

/// A transaction that changes data. Committing it records the current request's event in it.
pub(crate) struct WriteTx(pub(crate) crate::WriteTransaction);

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.0
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

impl WriteTx {
    pub(crate) async fn commit(mut self) -> std::result::Result<(), sqlx::Error> {
        let draft = pending();
        if let Some(draft) = &draft {
            append(&mut self.0, draft, 200).await?;
        }
        self.0.commit().await?;
        if draft.is_some() {
            note(|d| d.recorded = true);
        }
        Ok(())
    }
}

fn new_event_id() -> String {
    format!("ae-{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

/// Appends one event to its organization's chain (see `append_many`).
async fn append(conn: &mut AnyConnection, draft: &Draft, status: i64) -> std::result::Result<Event, sqlx::Error> {
    let mut events = append_many(conn, &[(draft, status)]).await?;
    Ok(events.pop().expect("one event per draft"))
}

/// Events per multi-row `INSERT` (20 bound values each).
const EVENTS_PER_INSERT: usize = 100;

/// Appends one event per draft to its organization's chain, in order, and queues their webhook
/// deliveries and notifications, on `conn`. Events of one chain take one head update and one
/// insert however many they are, so a batch of writes (`Store::insert_token`) costs a chain
/// about what one write costs.
pub(crate) async fn append_many(
    conn: &mut AnyConnection,
    drafts: &[(&Draft, i64)],
) -> std::result::Result<Vec<Event>, sqlx::Error> {
    // The chains concerned, in order of first appearance, with the drafts of each.
    let mut chains: Vec<(i64, Vec<usize>)> = Vec::new();
    for (i, (draft, _)) in drafts.iter().enumerate() {
        let org = chain_of(conn, draft).await?;
        match chains.iter_mut().find(|(o, _)| *o == org) {
            Some((_, members)) => members.push(i),
            None => chains.push((org, vec![i])),
        }
    }
    let mut events: Vec<Option<Event>> = drafts.iter().map(|_| None).collect();
    for (org, members) in chains {
        let n = members.len() as i64;
        // Taking the head row's lock first serializes appends to one chain across
        // connections; a chain's first events create its head.
        let head = sqlx::query(
            "INSERT INTO audit_heads (organization_id, seq, hash) VALUES ($1, $3, $2) \
             ON CONFLICT (organization_id) DO UPDATE SET seq = audit_heads.seq + $3 RETURNING seq, hash",
        )
        .bind(org)
        .bind(GENESIS)
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
        let first_seq = head.try_get::<i64, _>("seq")? - n + 1;
        let mut prev_hash: String = head.try_get("hash")?;
        let mut chain = Vec::with_capacity(members.len());
        for (k, &i) in members.iter().enumerate() {
            let (draft, status) = drafts[i];
            let event = new_event(draft, org, first_seq + k as i64, status);
            let hash = event.chain_hash(&prev_hash);
            chain.push((event, std::mem::replace(&mut prev_hash, hash.clone()), hash));
        }
        for rows in chain.chunks(EVENTS_PER_INSERT) {
            insert_events(conn, rows).await?;
        }
        sqlx::query("UPDATE audit_heads SET hash = $1 WHERE organization_id = $2")
            .bind(&prev_hash)
            .bind(org)
            .execute(&mut *conn)
            .await?;
        let webhook = sqlx::query("SELECT url, secret FROM audit_webhooks WHERE organization_id = $1")
            .bind(org)
            .fetch_optional(&mut *conn)
            .await?;
        for ((event, _, _), &i) in chain.into_iter().zip(&members) {
            if let Some(webhook) = &webhook {
                let delivery = WebhookDelivery {
                    url: webhook.try_get("url")?,
                    secret: webhook.try_get("secret")?,
                    body: serde_json::to_string(&event).expect("events serialise"),
                };
                let payload = serde_json::to_string(&delivery).expect("serialises");
                crate::outbox::insert(&mut *conn, Channel::Webhook, &payload).await?;
            }
            crate::notifications::enqueue_for(conn, &event).await?;
            events[i] = Some(event);
        }
    }
    Ok(events.into_iter().map(|e| e.expect("every draft is in a chain")).collect())
}

/// The chain a draft's event goes to: its organization's; for a sign-in or reset attempt that
/// names a person but no organization, their first one; otherwise the platform's.
async fn chain_of(conn: &mut AnyConnection, draft: &Draft) -> std::result::Result<i64, sqlx::Error> {
    Ok(match (draft.org, &draft.user_id) {
        (Some(org), _) => org.as_i64(),
        (None, Some(user)) => sqlx::query(
            "SELECT organization_id FROM memberships WHERE user_id = $1 ORDER BY created_at, organization_id LIMIT 1",
        )
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get("organization_id"))
        .transpose()?
        .unwrap_or(PLATFORM_CHAIN),
        (None, None) => PLATFORM_CHAIN,
    })
}

fn new_event(draft: &Draft, org: i64, seq: i64, status: i64) -> Event {
    let kind = draft.kind.expect("only drafts with a kind are appended");
    Event {
        id: new_event_id(),
        organization_id: org,
        seq,
        account_id: draft.account_id.clone(),
        user_id: draft.user_id.clone(),
        user_email: draft.user_email.clone(),
        token_id: draft.token_id,
        action: kind.action.into(),
        action_type: kind.action_type.into(),
        namespace: kind.namespace.into(),
        resource_type: Some(kind.resource_type.into()),
        resource_id: draft.resource_id.clone(),
        source: if draft.source.is_empty() { "api".into() } else { draft.source.clone() },
        ip: draft.ip.clone(),
        agent: draft.agent.clone(),
        context: json!({ "body": draft.body, "url": draft.url, "query": draft.query }).to_string(),
        response_status: status,
        created_at: now_ms(),
    }
}

/// Inserts events with their links `(event, prev_hash, hash)` in one statement.
async fn insert_events(
    conn: &mut AnyConnection,
    rows: &[(Event, String, String)],
) -> std::result::Result<(), sqlx::Error> {
    let values = crate::value_rows(rows.len(), 20);
    let sql = format!(
        "INSERT INTO audit_events (id, organization_id, seq, account_id, user_id, user_email, token_id, action, \
         action_type, namespace, resource_type, resource_id, source, ip, agent, context, response_status, created_at, \
         prev_hash, hash) VALUES {values}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (event, prev_hash, hash) in rows {
        query = query
            .bind(&event.id)
            .bind(event.organization_id)
            .bind(event.seq)
            .bind(&event.account_id)
            .bind(&event.user_id)
            .bind(&event.user_email)
            .bind(event.token_id)
            .bind(&event.action)
            .bind(&event.action_type)
            .bind(&event.namespace)
            .bind(&event.resource_type)
            .bind(&event.resource_id)
            .bind(&event.source)
            .bind(&event.ip)
            .bind(&event.agent)
            .bind(&event.context)
            .bind(event.response_status)
            .bind(event.created_at)
            .bind(prev_hash)
            .bind(hash);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// An outbox payload: one audit event for an organization's webhook. The secret stays
/// encrypted with the master key until the worker signs the delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub url: String,
    pub secret: String,
    pub body: String,
}

/// What the events query selects. Results come newest first, `limit` at a time; the next page
/// starts below `before_seq`.
#[derive(Debug, Clone)]
pub struct AuditFilter {
    pub org: OrgId,
    pub from_ms: i64,
    pub to_ms: i64,
    pub account_id: Option<String>,
    pub success_only: bool,
    /// An email or a user id.
    pub user: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
}

/// One organization's chain as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub organization_id: i64,
    pub result: std::result::Result<i64, Broken>,
}

/// An organization's audit webhook, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditWebhook {
    pub url: String,
    pub created_at: i64,
}

const EVENT_COLUMNS: &str = "id, organization_id, seq, account_id, user_id, user_email, token_id, action, action_type, \
     namespace, resource_type, resource_id, source, ip, agent, context, response_status, created_at";

const FILTER: &str = "organization_id = $1 AND created_at >= $2 AND created_at <= $3 \
     AND ($4 IS NULL OR account_id = $4) AND ($5 = 0 OR response_status = 200) \
     AND ($6 IS NULL OR LOWER(user_email) = LOWER($6) OR user_id = $6) AND ($7 IS NULL OR action = $7) \
     AND ($8 IS NULL OR resource_type = $8) AND ($9 IS NULL OR resource_id = $9)";

impl Store {
    /// Records the current request's event outside any change: for requests that were refused
    /// or changed nothing.
    pub async fn record_audit(&self, draft: &Draft, status: u16) -> Result<()> {
        if draft.recorded || draft.kind.is_none() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        append(&mut tx, draft, i64::from(status)).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// One page of an organization's events, newest first, below `before_seq` when given.
    pub async fn audit_events(&self, f: &AuditFilter, before_seq: Option<i64>, limit: i64) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE {FILTER} AND ($10 IS NULL OR seq < $10) \
             ORDER BY seq DESC LIMIT $11"
        );
        let rows = bind_filter(sqlx::query(sqlx::AssertSqlSafe(sql)), f)
            .bind(before_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await;
        rows.map_err(db)?.iter().map(event_row).collect()
    }

    /// The export's next batch: events after `after_seq`, oldest first.
    pub async fn audit_events_after(&self, f: &AuditFilter, after_seq: i64, limit: i64) -> Result<Vec<Event>> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE {FILTER} AND seq > $10 ORDER BY seq LIMIT $11");
        let rows = bind_filter(sqlx::query(sqlx::AssertSqlSafe(sql)), f)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await;
        rows.map_err(db)?.iter().map(event_row).collect()
    }

    /// Walks every chain and reports, per organization, the number of events or the first
    /// broken link.
    pub async fn verify_audit(&self) -> Result<Vec<ChainReport>> {
        const BATCH: i64 = 1000;
        let heads = sqlx::query(
            "SELECT organization_id, seq, hash FROM audit_heads UNION ALL \
             SELECT DISTINCT organization_id, -1, '' FROM audit_events \
             WHERE organization_id NOT IN (SELECT organization_id FROM audit_heads) ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut reports = Vec::new();
        for head in heads {
            let org: i64 = head.try_get("organization_id").map_err(db)?;
            let head_seq: i64 = head.try_get("seq").map_err(db)?;
            let head_hash: String = head.try_get("hash").map_err(db)?;
            let mut verifier = ChainVerifier::new(org);
            let mut after = 0;
            let result = 'walk: loop {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {EVENT_COLUMNS}, prev_hash, hash FROM audit_events \
                     WHERE organization_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                )))
                .bind(org)
                .bind(after)
                .bind(BATCH)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                for row in &rows {
                    let event = event_row(row)?;
                    let prev: String = row.try_get("prev_hash").map_err(db)?;
                    let hash: String = row.try_get("hash").map_err(db)?;
                    after = event.seq;
                    if let Err(broken) = verifier.push(&event, &prev, &hash) {
                        break 'walk Err(broken);
                    }
                }
                if i64::try_from(rows.len()).unwrap_or(0) < BATCH {
                    break if head_seq < 0 {
                        Err(Broken {
                            organization_id: org,
                            seq: 0,
                            event_id: None,
                            reason: "the chain's recorded end is missing".into(),
                        })
                    } else {
                        verifier.finish(head_seq, &head_hash)
                    };
                }
            };
            reports.push(ChainReport { organization_id: org, result });
        }
        Ok(reports)
    }

    /// Sets (or replaces) an organization's audit webhook; `secret` is already encrypted.
    pub async fn set_audit_webhook(&self, org: OrgId, url: &str, secret: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM audit_webhooks WHERE organization_id = $1")
            .bind(org.as_i64())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO audit_webhooks (organization_id, url, secret, created_at) VALUES ($1, $2, $3, $4)")
            .bind(org.as_i64())
            .bind(url)
            .bind(secret)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(())
    }

    pub async fn audit_webhook(&self, org: OrgId) -> Result<Option<AuditWebhook>> {
        let row = sqlx::query("SELECT url, created_at FROM audit_webhooks WHERE organization_id = $1")
            .bind(org.as_i64())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(AuditWebhook { url: r.try_get("url").map_err(db)?, created_at: r.try_get("created_at").map_err(db)? })
        })
        .transpose()
    }

    /// Removes the webhook; false when there was none.
    pub async fn delete_audit_webhook(&self, org: OrgId) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM audit_webhooks WHERE organization_id = $1")
            .bind(org.as_i64())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await.map_err(db)?;
        self.changed().await;
        Ok(true)
    }
}

fn bind_filter<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    f: &'q AuditFilter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(f.org.as_i64())
        .bind(f.from_ms)
        .bind(f.to_ms)
        .bind(f.account_id.as_deref())
        .bind(i16::from(f.success_only))
        .bind(f.user.as_deref())
        .bind(f.action.as_deref())
        .bind(f.resource_type.as_deref())
        .bind(f.resource_id.as_deref())
}

fn event_row(row: &AnyRow) -> Result<Event> {
    let get = |e: sqlx::Error| Error::internal(format!("reading an audit event: {e}"));
    Ok(Event {
        id: row.try_get("id").map_err(get)?,
        organization_id: row.try_get("organization_id").map_err(get)?,
        seq: row.try_get("seq").map_err(get)?,
        account_id: row.try_get("account_id").map_err(get)?,
        user_id: row.try_get("user_id").map_err(get)?,
        user_email: row.try_get("user_email").map_err(get)?,
        token_id: row.try_get("token_id").map_err(get)?,
        action: row.try_get("action").map_err(get)?,
        action_type: row.try_get("action_type").map_err(get)?,
        namespace: row.try_get("namespace").map_err(get)?,
        resource_type: row.try_get("resource_type").map_err(get)?,
        resource_id: row.try_get("resource_id").map_err(get)?,
        source: row.try_get("source").map_err(get)?,
        ip: row.try_get("ip").map_err(get)?,
        agent: row.try_get("agent").map_err(get)?,
        context: row.try_get("context").map_err(get)?,
        response_status: row.try_get("response_status").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
    })
}
