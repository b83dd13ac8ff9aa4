//! The assistant's turn in a visitor's chat (whether it answers, its reply, handing over to
//! the team) and campaign progress events.

use super::*;

/// The assistant's turn after a visitor's message (`question`): its reply, stored in the
/// conversation as an `assistant` message (so the visitor's page and the inbox see it like
/// any other). A reply that offers a person (asked for one, or nothing answered) qualifies
/// the conversation for the team: `conversation:qualified` with `reason` `handover` or
/// `not_found`.
///
/// `last_words`: the assistant's previous message in this conversation; a reply offering a
/// person that would only say it again is not given (`None`).
pub(crate) async fn assistant_turn(
    st: &MessagesState,
    w: &Widget,
    visitor: &str,
    conversation: &str,
    question: &str,
    last_words: Option<&str>,
) -> Result<Option<(Message, crate::assistant::Reply, Option<String>)>, ApiError> {
    use crate::assistant::ReplyKind;
    let online = crate::availability::now_for(&st.store, &st.console, w, st.presence.now_ms())
        .await
        .online;
    let a = crate::assistant::Assistant {
        knowledge: &st.knowledge,
        store: &st.store,
        usage: &st.usage,
        fetch_policy: st.fetch_policy,
        link_secret: &st.link_secret,
    };
    // A model's answer streams to the visitor's page as `assistant:delta` events (a few
    // words at a time), then the stored message carries the same `streamId`.
    let stream_id = ringside_storage::new_id();
    let mut pending = String::new();
    let mut streamed = false;
    let mut last = std::time::Instant::now();
    let bus = st.bus.clone();
    let now = st.presence.now_ms();
    let (tenant, widget, who) = (w.tenant_id.clone(), w.id.clone(), visitor.to_owned());
    let publish = |text: &str, stream_id: &str| {
        bus.publish(&tenant, || {
            Event::new(
                "assistant:delta",
                Audience::Visitor,
                Some(&widget),
                Some(&who),
                json!({"streamId": stream_id, "text": text}),
                now,
            )
        });
    };
    let recent = tokio::sync::OnceCell::new();
    let reply = {
        let mut on_delta = |d: &str| {
            pending.push_str(d);
            if pending.len() >= 24 || last.elapsed() >= std::time::Duration::from_millis(80) {
                publish(&pending, &stream_id);
                pending.clear();
                streamed = true;
                last = std::time::Instant::now();
            }
        };
        crate::assistant::reply(
            &a,
            w,
            online,
            question,
            Some(crate::assistant::Turn {
                visitor,
                conversation,
                recent: &recent,
            }),
            &mut on_delta,
        )
        .await?
    };
    if !pending.is_empty() {
        publish(&pending, &stream_id);
        streamed = true;
    }
    if reply.kind.offers_human() && last_words == Some(reply.text.as_str()) {
        return Ok(None);
    }
    let m = store_message_full(
        st,
        w,
        NewMessage {
            visitor_id: visitor.to_owned(),
            conversation_id: conversation.to_owned(),
            sender: "assistant".into(),
            author_user_id: None,
            body: reply.text.clone(),
        },
        None,
        streamed.then_some(stream_id.as_str()),
    )
    .await?;
    if reply.qualifies {
        let reason = if reply.kind == ReplyKind::Handover {
            "handover"
        } else {
            "not_found"
        };
        st.bus.publish(&w.tenant_id, || {
            Event::new(
                "conversation:qualified",
                Audience::Tenant("messages:read"),
                Some(&w.id),
                Some(visitor),
                json!({"id": m.conversation_id, "channel": "chat", "widgetId": w.id,
                       "visitorId": visitor, "reason": reason, "question": question,
                       "online": online}),
                st.presence.now_ms(),
            )
        });
    }
    Ok(Some((m, reply, streamed.then_some(stream_id))))
}

/// Whether the assistant answers a visitor's chat message: it is not switched off, the widget
/// has knowledge (its own, or sources its assistant shares from other widgets), a company
/// profile, or the tenant an order or ticket integration, and nobody from the team has written
/// in this conversation yet (a person took over). `Some(last assistant words there)` when it
/// does.
pub(crate) async fn assistant_answers_chat(
    st: &MessagesState,
    w: &Widget,
    visitor: &str,
    conversation: &str,
) -> Result<Option<Option<String>>, ApiError> {
    let assistant = st.store.get_assistant(&w.tenant_id, &w.id).await?;
    // An assistant switched off leaves the chat to the team.
    if assistant.as_ref().is_some_and(|a| !a.enabled) {
        return Ok(None);
    }
    let shares = assistant
        .as_ref()
        .and_then(|a| a.source_ids.as_ref())
        .is_some_and(|ids| !ids.is_empty());
    if !shares
        && !st.knowledge.has_passages(&w.tenant_id, &w.id).await?
        && st
            .store
            .get_knowledge_profile(&w.tenant_id, &w.id)
            .await?
            .is_none()
        && !st
            .store
            .list_integrations(&w.tenant_id)
            .await?
            .iter()
            .any(|i| i.enabled)
    {
        return Ok(None);
    }
    let recent = st
        .store
        .list_messages(&w.tenant_id, &w.id, Some(visitor), 200)
        .await?;
    let mine: Vec<&Message> = recent
        .iter()
        .filter(|m| m.conversation_id == conversation)
        .collect();
    if mine.iter().any(|m| m.sender == "operator") {
        return Ok(None);
    }
    Ok(Some(
        mine.iter()
            .rev()
            .find(|m| m.sender == "assistant")
            .map(|m| m.body.clone()),
    ))
}

/// A visitor who came from a campaign (`utm_campaign` on a page it viewed) took a step —
/// `chat` (its first message in a conversation), `lead` or `callback`: `campaign:progress`
/// for the dashboards holding `analytics:read`, with the campaign's tags, so a campaign
/// report can move as it happens. Nothing when the visitor came from no campaign.
pub(super) async fn campaign_progress(
    st: &MessagesState,
    w: &Widget,
    visitor: &str,
    step: &'static str,
    conversation: &str,
) {
    let Ok(v) = st.presence.visitor(&w.tenant_id, &w.id, visitor).await else {
        return;
    };
    let Some(campaign) = v.utm_campaign.clone().filter(|c| !c.is_empty()) else {
        return;
    };
    st.bus.publish(&w.tenant_id, || {
        Event::new(
            "campaign:progress",
            Audience::Tenant("analytics:read"),
            Some(&w.id),
            Some(visitor),
            json!({"widgetId": w.id, "campaign": campaign, "source": v.utm_source,
                   "medium": v.utm_medium, "step": step, "visitorId": visitor,
                   "conversationId": conversation}),
            st.presence.now_ms(),
        )
    });
}
