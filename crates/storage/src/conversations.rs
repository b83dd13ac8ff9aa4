//! Conversations as work: one row per visitor chat (widget, visitor), kept up to date by
//! every stored message ([`Store::add_message`]), with a state (open, pending, resolved,
//! snoozed), the last message's preview and the team's unread count. The inbox lists them
//! by state and assignee, newest activity first.
//!
//! A visitor message reopens a resolved, snoozed or pending chat and counts as unread; an
//! operator's reply or [`Store::mark_conversation_read`] clears the count (automation and
//! assistant answers leave it: someone still has to look).
//! A snoozed chat whose time has come is shown and counted as open.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::messages::Message;
use crate::util::{bind_all, Param};
use crate::Store;

/// Conversation states.
pub const CONVERSATION_STATES: &[&str] = &["open", "pending", "resolved", "snoozed"];
/// Characters of the last message kept as the preview.
pub const PREVIEW_CHARS: usize = 200;
/// Most conversations one list call returns.
pub const MAX_LIST_CONVERSATIONS: i64 = 200;
/// Longest a conversation may be snoozed, ms (90 days).
pub const MAX_SNOOZE_MS: i64 = 90 * 24 * 3600 * 1000;

/// Who a conversation is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAssignee {
    /// The user.
    pub user_id: String,
    /// Their email.
    pub email: String,
}

/// The contact a conversation's visitor is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationContact {
    /// Contact id.
    pub id: String,
    /// First and last name, when given.
    pub name: Option<String>,
    /// Email, when given.
    pub email: Option<String>,
}

/// A visitor's chat as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// The widget the chat runs on.
    pub widget_id: String,
    /// The widget's name.
    pub widget_name: String,
    /// The visitor.
    pub visitor_id: String,
    /// `open`, `pending`, `resolved` or `snoozed` (a snooze that has ended reads `open`).
    #[schemars(extend("enum" = ["open", "pending", "resolved", "snoozed"]))]
    pub state: String,
    /// Until when it is snoozed, unix ms.
    pub snoozed_until: Option<i64>,
    /// The last message, unix ms.
    pub last_message_at: i64,
    /// Who sent it (`visitor`, `operator`, `automation`, `assistant`).
    pub last_sender: String,
    /// Its first [`PREVIEW_CHARS`] characters.
    pub preview: String,
    /// Visitor messages the team has not read.
    pub unread: i64,
    /// Messages in the chat.
    pub message_count: i64,
    /// The first message, unix ms.
    pub created_at: i64,
    /// The assignee, if any.
    pub assignee: Option<ConversationAssignee>,
    /// The visitor's contact, if attached.
    pub contact: Option<ConversationContact>,
}

/// Which conversations to list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// One of [`CONVERSATION_STATES`]; `None`: every state.
    pub state: Option<String>,
    /// Only those assigned to this user.
    pub assignee: Option<String>,
    /// Only those assigned to nobody.
    pub unassigned: bool,
    /// Only open or pending ones (a run-out snooze counts as open); with `state` unset.
    pub active: bool,
    /// Only this widget's.
    pub widget_id: Option<String>,
    /// Only these widgets' (a restricted agent's); `Some(empty)` lists nothing.
    pub widgets: Option<Vec<String>>,
    /// Only those whose last message is older than this (paging), unix ms.
    pub before: Option<i64>,
    /// Only those after this one in the list's order (paging without skipping chats whose
    /// last messages share a millisecond); with `before` too, both apply.
    pub after: Option<ConversationKey>,
    /// At most this many (clamped to 1..=[`MAX_LIST_CONVERSATIONS`]).
    pub limit: i64,
}

/// Where a conversation stands in the inbox's order (latest activity first): a page's last
/// one, to continue after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationKey {
    /// Its last message, unix ms.
    pub last_message_at: i64,
    /// Its visitor.
    pub visitor_id: String,
    /// Its widget.
    pub widget_id: String,
}

impl ConversationKey {
    /// The key of `c`.
    pub fn of(c: &Conversation) -> ConversationKey {
        ConversationKey {
            last_message_at: c.last_message_at,
            visitor_id: c.visitor_id.clone(),
            widget_id: c.widget_id.clone(),
        }
    }
}

/// How many conversations there are per inbox view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationCounts {
    /// Open (snoozes that have ended included).
    pub open: i64,
    /// Pending (waiting on the visitor).
    pub pending: i64,
    /// Resolved.
    pub resolved: i64,
    /// Still snoozed.
    pub snoozed: i64,
    /// Open or pending, assigned to the asking user.
    pub mine: i64,
    /// Open or pending, assigned to nobody.
    pub unassigned: i64,
    /// Unread visitor messages over all open or pending chats.
    pub unread: i64,
    /// Chats with a message since midnight UTC.
    pub today: i64,
}

/// The state as shown, with an ended snooze read as open (`$1` is now).
const STATE_NOW: &str =
    "CASE WHEN c.state = 'snoozed' AND c.snoozed_until <= $1 THEN 'open' ELSE c.state END";

fn conversation_cols() -> String {
    format!(
        "c.widget_id, w.name AS widget_name, c.visitor_id, {STATE_NOW} AS state, \
         c.snoozed_until, c.last_message_at, c.last_sender, c.last_body, c.unread, \
         c.message_count, c.created_at, a.user_id AS assignee_id, u.email AS assignee_email, \
         k.id AS contact_id, k.first_name, k.last_name, k.email AS contact_email"
    )
}

/// An open conversation, or a snoozed one whose snooze has ended (`$1` is now).
const WOKE_OR_OPEN: &str = "(c.state = 'open' OR (c.state = 'snoozed' AND c.snoozed_until <= $1))";

const CONVERSATION_JOINS: &str = "FROM conversations c JOIN widgets w ON w.id = c.widget_id \
     LEFT JOIN conversation_assignments a ON a.widget_id = c.widget_id AND a.visitor_id = c.visitor_id \
     LEFT JOIN users u ON u.id = a.user_id \
     LEFT JOIN contact_sessions s ON s.widget_id = c.widget_id AND s.visitor_id = c.visitor_id \
     LEFT JOIN contacts k ON k.id = s.contact_id";

fn conversation_from_row(row: &AnyRow) -> Result<Conversation> {
    let assignee = match (
        row.try_get::<Option<String>, _>("assignee_id")?,
        row.try_get::<Option<String>, _>("assignee_email")?,
    ) {
        (Some(user_id), Some(email)) => Some(ConversationAssignee { user_id, email }),
        _ => None,
    };
    let contact = row
        .try_get::<Option<String>, _>("contact_id")?
        .map(|id| -> Result<ConversationContact> {
            let first: Option<String> = row.try_get("first_name")?;
            let last: Option<String> = row.try_get("last_name")?;
            let name = [first, last]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Ok(ConversationContact {
                id,
                name: (!name.is_empty()).then_some(name),
                email: row.try_get("contact_email")?,
            })
        })
        .transpose()?;
    Ok(Conversation {
        widget_id: row.try_get("widget_id")?,
        widget_name: row.try_get("widget_name")?,
        visitor_id: row.try_get("visitor_id")?,
        state: row.try_get("state")?,
        snoozed_until: row.try_get("snoozed_until")?,
        last_message_at: row.try_get("last_message_at")?,
        last_sender: row.try_get("last_sender")?,
        preview: row.try_get("last_body")?,
        unread: row.try_get("unread")?,
        message_count: row.try_get("message_count")?,
        created_at: row.try_get("created_at")?,
        assignee,
        contact,
    })
}

/// The first [`PREVIEW_CHARS`] characters of a message body.
fn preview(body: &str) -> String {
    body.chars().take(PREVIEW_CHARS).collect()
}

/// `$n, $n+1, ...` for `count` parameters starting at `first`.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Records `m` (just stored, in transaction `tx`) in its conversation: creates the row,
    /// or moves its last message on, counts a visitor message as unread and reopens a
    /// resolved or snoozed chat with it; a team message clears the unread count.
    pub(crate) async fn conversation_saw_message(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        m: &Message,
    ) -> Result<()> {
        // 1: the visitor wrote (unread + 1, a resolved, snoozed or pending chat reopens);
        // 2: an operator replied (read); 0: automation or the assistant (nothing changes).
        let who: i64 = match m.sender.as_str() {
            "visitor" => 1,
            "operator" => 2,
            _ => 0,
        };
        sqlx::query(
            "INSERT INTO conversations (widget_id, visitor_id, tenant_id, state, snoozed_until, \
             last_message_at, last_sender, last_body, unread, message_count, created_at, updated_at, \
             assignee_id) \
             VALUES ($1, $2, $3, 'open', NULL, $4, $5, $6, CASE WHEN $7 = 1 THEN 1 ELSE 0 END, 1, $4, $4, \
             (SELECT a.user_id FROM conversation_assignments a WHERE a.widget_id = $1 AND a.visitor_id = $2)) \
             ON CONFLICT (widget_id, visitor_id) DO UPDATE SET \
             last_message_at = EXCLUDED.last_message_at, last_sender = EXCLUDED.last_sender, \
             last_body = EXCLUDED.last_body, message_count = conversations.message_count + 1, \
             unread = CASE WHEN $7 = 1 THEN conversations.unread + 1 \
                 WHEN $7 = 2 THEN 0 ELSE conversations.unread END, \
             state = CASE WHEN $7 = 1 AND conversations.state IN ('resolved', 'snoozed', 'pending') \
                 THEN 'open' ELSE conversations.state END, \
             snoozed_until = CASE WHEN $7 = 1 THEN NULL ELSE conversations.snoozed_until END, \
             updated_at = EXCLUDED.updated_at",
        )
        .bind(&m.widget_id)
        .bind(&m.visitor_id)
        .bind(&m.tenant_id)
        .bind(m.created_at)
        .bind(&m.sender)
        .bind(preview(&m.body))
        .bind(who)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records in the visitor's conversation something they submitted that is not a chat
    /// message (a callback request, a lead): it shows as the last activity with `preview`,
    /// counts as unread and reopens a resolved or snoozed chat; the message count stays.
    pub async fn conversation_saw_submission(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        preview_text: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO conversations (widget_id, visitor_id, tenant_id, state, snoozed_until, \
             last_message_at, last_sender, last_body, unread, message_count, created_at, updated_at, \
             assignee_id) \
             VALUES ($1, $2, $3, 'open', NULL, $4, 'visitor', $5, 1, 0, $4, $4, \
             (SELECT a.user_id FROM conversation_assignments a WHERE a.widget_id = $1 AND a.visitor_id = $2)) \
             ON CONFLICT (widget_id, visitor_id) DO UPDATE SET \
             last_message_at = EXCLUDED.last_message_at, last_sender = 'visitor', \
             last_body = EXCLUDED.last_body, unread = conversations.unread + 1, \
             state = CASE WHEN conversations.state IN ('resolved', 'snoozed') \
                 THEN 'open' ELSE conversations.state END, \
             snoozed_until = NULL, updated_at = EXCLUDED.updated_at",
        )
        .bind(widget_id)
        .bind(visitor_id)
        .bind(tenant_id)
        .bind(at)
        .bind(preview(preview_text))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The conversation of `visitor_id` on the tenant's widget `widget_id`; NotFound when
    /// the visitor has not chatted (or the widget is another tenant's).
    pub async fn get_conversation(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        now: i64,
    ) -> Result<Conversation> {
        let sql = format!(
            "SELECT {} {CONVERSATION_JOINS} WHERE c.tenant_id = $2 AND c.widget_id = $3 \
             AND c.visitor_id = $4",
            conversation_cols()
        );
        let row = sqlx::query(&sql)
            .bind(now)
            .bind(tenant_id)
            .bind(widget_id)
            .bind(visitor_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StorageError::NotFound)?;
        conversation_from_row(&row)
    }

    /// The tenant's conversations matching `f`, latest activity first.
    pub async fn list_conversations(
        &self,
        tenant_id: &str,
        f: &ConversationFilter,
        now: i64,
    ) -> Result<Vec<Conversation>> {
        if let Some(s) = &f.state {
            if !CONVERSATION_STATES.contains(&s.as_str()) {
                return Err(StorageError::Invalid("state"));
            }
        }
        if f.widgets.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let mut params = vec![Param::Int(now), Param::Text(tenant_id.to_owned())];
        let mut cond = String::from("c.tenant_id = $2");
        fn push(cond: &mut String, params: &mut Vec<Param>, clause: &str, p: Param) {
            params.push(p);
            cond.push_str(&clause.replace("$?", &format!("${}", params.len())));
        }
        // Conditions on the conversation row alone (an ended snooze reads as open), so the
        // page is picked from the conversations indexes before anything is joined. A view of
        // some states reads each state's part in index order (state, then activity) and
        // merges them: no scan through the other states' conversations.
        const OPEN: &str = "c.state = 'open'";
        const WOKE: &str = "c.state = 'snoozed' AND c.snoozed_until <= $1";
        const PENDING: &str = "c.state = 'pending'";
        let mut parts: Vec<String> = match f.state.as_deref() {
            Some("open") => vec![OPEN.into(), WOKE.into()],
            Some("snoozed") => vec![
                "c.state = 'snoozed' AND (c.snoozed_until IS NULL OR c.snoozed_until > $1)".into(),
            ],
            Some(s) => {
                params.push(Param::Text(s.to_owned()));
                vec![format!("c.state = ${}", params.len())]
            }
            None if f.active => vec![OPEN.into(), WOKE.into(), PENDING.into()],
            None => Vec::new(),
        };
        if let Some(u) = &f.assignee {
            push(
                &mut cond,
                &mut params,
                " AND c.assignee_id = $?",
                Param::Text(u.clone()),
            );
        }
        if let Some(w) = &f.widget_id {
            push(
                &mut cond,
                &mut params,
                " AND c.widget_id = $?",
                Param::Text(w.clone()),
            );
        }
        if let Some(b) = f.before {
            push(
                &mut cond,
                &mut params,
                " AND c.last_message_at < $?",
                Param::Int(b),
            );
        }
        if let Some(k) = &f.after {
            let n = params.len();
            cond.push_str(&format!(
                " AND (c.last_message_at < ${a} OR (c.last_message_at = ${a} AND \
                 (c.visitor_id < ${v} OR (c.visitor_id = ${v} AND c.widget_id < ${w}))))",
                a = n + 1,
                v = n + 2,
                w = n + 3
            ));
            params.push(Param::Int(k.last_message_at));
            params.push(Param::Text(k.visitor_id.clone()));
            params.push(Param::Text(k.widget_id.clone()));
        }
        if f.unassigned {
            cond.push_str(" AND c.assignee_id IS NULL");
        }
        if f.active && f.state.is_some() {
            cond.push_str(&format!(" AND ({WOKE_OR_OPEN} OR c.state = 'pending')"));
        }
        if let Some(ws) = &f.widgets {
            cond.push_str(&format!(
                " AND c.widget_id IN ({})",
                placeholders(params.len() + 1, ws.len())
            ));
            params.extend(ws.iter().cloned().map(Param::Text));
        }
        let limit = f.limit.clamp(1, MAX_LIST_CONVERSATIONS);
        // The page first (conversations only, in index order), then its joins.
        let order = "c.last_message_at DESC, c.visitor_id DESC, c.widget_id DESC";
        let page = match parts.len() {
            0 => {
                format!("SELECT * FROM conversations c WHERE {cond} ORDER BY {order} LIMIT {limit}")
            }
            1 => format!(
                "SELECT * FROM conversations c WHERE {cond} AND {} ORDER BY {order} LIMIT {limit}",
                parts.remove(0)
            ),
            _ => {
                let union = parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        format!(
                            "SELECT * FROM (SELECT * FROM conversations c WHERE {cond} AND {p} \
                             ORDER BY {order} LIMIT {limit}) AS part{i}"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                format!("SELECT * FROM ({union}) AS c ORDER BY {order} LIMIT {limit}")
            }
        };
        let sql = format!(
            "SELECT {} {} ORDER BY {order}",
            conversation_cols(),
            CONVERSATION_JOINS.replacen("FROM conversations c ", &format!("FROM ({page}) c "), 1)
        );
        let rows = bind_all(sqlx::query(&sql), params)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(conversation_from_row).collect()
    }

    /// How many of the tenant's conversations (of `widgets` only, when given) are in each
    /// inbox view, "mine" being `user_id`'s, and how many were active today (UTC).
    pub async fn conversation_counts(
        &self,
        tenant_id: &str,
        user_id: &str,
        widgets: Option<&[String]>,
        now: i64,
    ) -> Result<ConversationCounts> {
        if widgets.is_some_and(<[String]>::is_empty) {
            return Ok(ConversationCounts::default());
        }
        // A few small index reads rather than one pass over every chat: counts per stored
        // state (covered by the (tenant, state, unread, assignee) index), the snoozes that
        // have run out (they count as open), and today's.
        let day_start = now - now.rem_euclid(86_400_000);
        let scope = |first: usize, alias: &str| -> String {
            match widgets {
                Some(ws) => format!(
                    " AND {alias}widget_id IN ({})",
                    placeholders(first, ws.len())
                ),
                None => String::new(),
            }
        };
        let with_widgets = |mut p: Vec<Param>| {
            if let Some(ws) = widgets {
                p.extend(ws.iter().cloned().map(Param::Text));
            }
            p
        };
        let tenant = || Param::Text(tenant_id.to_owned());

        // Per stored state: count, unread, assigned to anyone, assigned to the user (the
        // assignee is kept on the row: no lookup per assignment).
        const SUMS: &str = "COUNT(*) AS n, CAST(COALESCE(SUM(unread), 0) AS BIGINT) AS u, \
             CAST(COALESCE(SUM(CASE WHEN assignee_id IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS a, \
             CAST(COALESCE(SUM(CASE WHEN assignee_id = $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS m";
        type Sums = (i64, i64, i64, i64);
        let sums = |row: &sqlx::any::AnyRow| -> Result<Sums> {
            Ok((
                row.try_get("n")?,
                row.try_get("u")?,
                row.try_get("a")?,
                row.try_get("m")?,
            ))
        };
        let user = || Param::Text(user_id.to_owned());
        let sql = format!(
            "SELECT state, {SUMS} FROM conversations WHERE tenant_id = $1{} GROUP BY state",
            scope(3, "")
        );
        let mut by_state: std::collections::HashMap<String, Sums> =
            std::collections::HashMap::new();
        for row in bind_all(sqlx::query(&sql), with_widgets(vec![tenant(), user()]))
            .fetch_all(&self.pool)
            .await?
        {
            by_state.insert(row.try_get("state")?, sums(&row)?);
        }
        let stored = |s: &str| by_state.get(s).copied().unwrap_or((0, 0, 0, 0));

        let sql = format!(
            "SELECT {SUMS} FROM conversations WHERE tenant_id = $1 AND state = 'snoozed' \
             AND snoozed_until <= $3{}",
            scope(4, "")
        );
        let row = bind_all(
            sqlx::query(&sql),
            with_widgets(vec![tenant(), user(), Param::Int(now)]),
        )
        .fetch_one(&self.pool)
        .await?;
        let woke = sums(&row)?;

        let sql = format!(
            "SELECT COUNT(*) AS n FROM conversations WHERE tenant_id = $1 \
             AND last_message_at >= $2{}",
            scope(3, "")
        );
        let today: i64 = bind_all(
            sqlx::query(&sql),
            with_widgets(vec![tenant(), Param::Int(day_start)]),
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;

        let (open, pending) = (stored("open"), stored("pending"));
        let open_n = open.0 + woke.0;
        Ok(ConversationCounts {
            open: open_n,
            pending: pending.0,
            resolved: stored("resolved").0,
            snoozed: stored("snoozed").0 - woke.0,
            mine: open.3 + pending.3 + woke.3,
            unassigned: open_n + pending.0 - (open.2 + pending.2 + woke.2),
            unread: open.1 + pending.1 + woke.1,
            today,
        })
    }

    /// Sets a conversation's state; `snoozed` needs `snoozed_until` in the future (at most
    /// [`MAX_SNOOZE_MS`] ahead), the other states take none. NotFound when there is no such
    /// conversation of the tenant.
    pub async fn set_conversation_state(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        state: &str,
        snoozed_until: Option<i64>,
        now: i64,
    ) -> Result<Conversation> {
        if !CONVERSATION_STATES.contains(&state) {
            return Err(StorageError::Invalid("state"));
        }
        let until = match (state, snoozed_until) {
            ("snoozed", Some(t)) if t > now && t - now <= MAX_SNOOZE_MS => Some(t),
            ("snoozed", _) => return Err(StorageError::Invalid("snoozedUntil")),
            (_, Some(_)) => return Err(StorageError::Invalid("snoozedUntil")),
            (_, None) => None,
        };
        let done = sqlx::query(
            "UPDATE conversations SET state = $1, snoozed_until = $2, updated_at = $3 \
             WHERE tenant_id = $4 AND widget_id = $5 AND visitor_id = $6",
        )
        .bind(state)
        .bind(until)
        .bind(now)
        .bind(tenant_id)
        .bind(widget_id)
        .bind(visitor_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StorageError::NotFound);
        }
        self.get_conversation(tenant_id, widget_id, visitor_id, now)
            .await
    }

    /// The team has read the conversation: its unread count goes to zero.
    pub async fn mark_conversation_read(
        &self,
        tenant_id: &str,
        widget_id: &str,
        visitor_id: &str,
        now: i64,
    ) -> Result<Conversation> {
        let done = sqlx::query(
            "UPDATE conversations SET unread = 0 \
             WHERE tenant_id = $1 AND widget_id = $2 AND visitor_id = $3",
        )
        .bind(tenant_id)
        .bind(widget_id)
        .bind(visitor_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(StorageError::NotFound);
        }
        self.get_conversation(tenant_id, widget_id, visitor_id, now)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_on_characters() {
        let long = "é".repeat(300);
        assert_eq!(preview(&long).chars().count(), PREVIEW_CHARS);
        assert_eq!(preview("hi"), "hi");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }
}
