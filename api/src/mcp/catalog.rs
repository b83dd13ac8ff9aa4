//! The catalog of `ringside_*` tools: names, descriptions for a model, scopes, annotations,
//! input and output schemas, and the `/api/v1` request each runs as ([`super::tools`] runs
//! them).

use serde_json::{json, Value};

use super::schema::{array, id, input, int, list_of, output, text, typed, with_props};

/// How a tool runs.
#[derive(Clone, Copy)]
pub(crate) enum Run {
    /// One REST request: `path` with `{name}` filled from the arguments, `query` arguments as
    /// the query string, the rest (but the path's) as the JSON body of a write.
    Rest {
        method: &'static str,
        path: &'static str,
        query: &'static [&'static str],
        /// Query values used when the arguments give none.
        defaults: &'static [(&'static str, &'static str)],
    },
    /// Waiting calls of one widget or of every widget the caller sees, with handoff links.
    WaitingCalls,
    /// Call history of the tenant or of one widget (and visitor).
    CallHistory,
}

/// One tool.
pub(crate) struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Reads only (`readOnlyHint`).
    pub read_only: bool,
    /// May remove or overwrite what exists (`destructiveHint`).
    pub destructive: bool,
    /// Calling again with the same arguments changes nothing more (`idempotentHint`).
    pub idempotent: bool,
    /// The scope beyond `mcp:read` it needs (for the description and the refusal).
    pub scope: &'static str,
    pub input: Value,
    pub output: Value,
    pub run: Run,
}

const WIDGET: &str = "The widget's id (from ringside_list_widgets)";
const VISITOR: &str = "The visitor's id (from ringside_get_live_visitors or a message)";
const CONTACT: &str = "The contact's id (from ringside_list_contacts)";

fn widget_item() -> Value {
    typed::<crate::widgets::WidgetView>()
}

fn call_item() -> Value {
    typed::<crate::calls::CallView>()
}

/// Every tool, in the order `tools/list` shows them (made once: the typed schemas are
/// generated from the Rust types).
pub(crate) fn all() -> &'static [Tool] {
    static TOOLS: std::sync::OnceLock<Vec<Tool>> = std::sync::OnceLock::new();
    TOOLS.get_or_init(make)
}

fn make() -> Vec<Tool> {
    let widget_only = || input(&[("widgetId", id(WIDGET))], &["widgetId"]);
    let visitor_args = |more: &[(&str, Value)], req: &[&str]| {
        let mut p = vec![("widgetId", id(WIDGET)), ("visitorId", id(VISITOR))];
        p.extend(more.iter().cloned());
        let mut r = vec!["widgetId", "visitorId"];
        r.extend_from_slice(req);
        input(&p, &r)
    };
    vec![
        Tool {
            name: "ringside_list_widgets",
            title: "List widgets",
            description: "List the account's chat and call widgets (id, name, allowed domains). \
                          Call this first: the other tools take a widgetId from here.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "widgets:read",
            input: input(&[], &[]),
            output: list_of("data", "The widgets", widget_item()),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_live_visitors",
            title: "Visitors on the site now",
            description: "Who is on the widget's site right now: the most recently seen live \
                          visitors (limit, default 50) with their current page, referrer, UTM \
                          tags, device and how long they have been there, and how many are \
                          live in all (total).",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "analytics:read",
            input: input(
                &[
                    ("widgetId", id(WIDGET)),
                    ("limit", int("Visitors listed, most recent first", 1, 1000)),
                ],
                &["widgetId"],
            ),
            output: typed::<crate::visitors::LiveVisitors>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/live-visitors",
                query: &["limit"],
                defaults: &[("limit", "50")],
            },
        },
        Tool {
            name: "ringside_get_widget_analytics",
            title: "Widget analytics",
            description: "Visitor analytics of a widget: totals, UTM sources, mediums and \
                          campaigns, referrers, paid clicks, returning visitors, bot-like \
                          sessions, browsers, systems, devices and top IPs, over the most \
                          recently seen visitors (limit, default 120).",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "analytics:read",
            input: input(
                &[
                    ("widgetId", id(WIDGET)),
                    ("limit", int("Visitors analysed", 1, 5000)),
                ],
                &["widgetId"],
            ),
            output: typed::<crate::analytics::Analytics>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/analytics",
                query: &["limit"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_campaign_report",
            title: "Campaign report",
            description: "Per campaign tag (utm_source, utm_medium, utm_campaign, referrer, \
                          paid click): visitors, sessions, chats and leads, with the aliases \
                          set by ringside_set_campaign_aliases.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "analytics:read",
            input: input(
                &[
                    ("widgetId", id(WIDGET)),
                    ("limit", int("Visitors analysed", 1, 5000)),
                ],
                &["widgetId"],
            ),
            output: typed::<crate::analytics::CampaignReport>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/campaign-report",
                query: &["limit"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_set_campaign_aliases",
            title: "Name campaign tags",
            description: "Give campaign tag values human-readable names (e.g. utm_campaign \
                          'q3_bf_2026' → 'Black Friday'); alias null or empty removes one. \
                          Needs widgets:write.",
            read_only: false,
            destructive: false,
            idempotent: true,
            scope: "widgets:write",
            input: with_props(
                typed::<crate::analytics::AliasesBody>(),
                &[("widgetId", id(WIDGET))],
                &["widgetId"],
            ),
            output: typed::<crate::analytics::AliasList>(),
            run: Run::Rest {
                method: "PATCH",
                path: "/api/v1/widgets/{widgetId}/campaign-aliases",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_visitor_activity",
            title: "A visitor's activity",
            description: "A visitor's tracked events (page views, clicks, widget opens), newest \
                          first.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "analytics:read",
            input: visitor_args(&[("limit", int("Events, newest first", 1, 1000))], &[]),
            output: typed::<crate::visitors::Activity>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/visitors/{visitorId}/activity",
                query: &["limit"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_visitor_messages",
            title: "A visitor's chat",
            description: "The chat messages between a visitor and the team, oldest first.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "messages:read",
            input: visitor_args(&[], &[]),
            output: typed::<crate::messages::MessageList>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/messages",
                query: &["visitorId"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_send_visitor_message",
            title: "Message a visitor",
            description: "Send a chat message to a visitor; they see it in the widget at once. \
                          sender is operator (the default: shown as the token's user) or \
                          automation. Needs messages:write.",
            read_only: false,
            destructive: false,
            idempotent: false,
            scope: "messages:write",
            input: with_props(
                typed::<crate::messages::operator::SendBody>(),
                &[("widgetId", id(WIDGET))],
                &["widgetId"],
            ),
            output: typed::<crate::messages::MessageView>(),
            run: Run::Rest {
                method: "POST",
                path: "/api/v1/widgets/{widgetId}/messages",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_create_conversation_link",
            title: "Handoff link",
            description: "A signed link (valid 24 hours, or expiresInSeconds) that opens the \
                          operator view of the visitor, for a person to take over.",
            read_only: false,
            destructive: false,
            idempotent: false,
            scope: "messages:read",
            input: visitor_args(
                &[("expiresInSeconds", int("Lifetime of the link", 60, 86_400))],
                &[],
            ),
            output: typed::<crate::handoff::ConversationLink>(),
            run: Run::Rest {
                method: "POST",
                path: "/api/v1/widgets/{widgetId}/visitors/{visitorId}/conversation-link",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_waiting_calls",
            title: "Calls waiting",
            description: "Calls ringing now and not yet answered: browser calls, trusted SIP \
                          calls, the visitor's channel number, the dashboard URL and a 24-hour \
                          handoff link for each. Without widgetId, every widget the user can \
                          answer is scanned.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "calls:read",
            input: input(&[("widgetId", id(WIDGET))], &[]),
            output: output(
                &[
                    (
                        "calls",
                        array(
                            "Ringing now",
                            with_props(
                                call_item(),
                                &[
                                    (
                                        "actionUrl",
                                        json!({"type": "string", "format": "uri",
                                               "description": "A 24-hour handoff link to the visitor (ringside_create_conversation_link)"}),
                                    ),
                                    (
                                        "actionUrlExpiresAt",
                                        int("When actionUrl stops working, Unix ms", 0, i64::MAX),
                                    ),
                                ],
                                &[],
                            ),
                        ),
                    ),
                    ("widgetsScanned", int("Widgets looked at", 0, i64::MAX)),
                ],
                &["calls", "widgetsScanned"],
            ),
            run: Run::WaitingCalls,
        },
        Tool {
            name: "ringside_get_call_history",
            title: "Call history",
            description: "Calls, newest first, with legs, timings, end reason and who answered; \
                          of one widget (and visitor) when widgetId is given.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "calls:read",
            input: input(
                &[
                    ("widgetId", id(WIDGET)),
                    ("visitorId", id("Only this visitor's calls (with widgetId)")),
                    ("limit", int("Calls, newest first", 1, 500)),
                ],
                &[],
            ),
            output: list_of("calls", "Newest first", call_item()),
            run: Run::CallHistory,
        },
        Tool {
            name: "ringside_get_call_recordings",
            title: "A call's recordings",
            description: "The recordings of a call (from ringside_get_call_history): duration, \
                          size, the download URL (stereo WAV; needs the same bearer token) and \
                          the resource URI to read the audio with resources/read.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "calls:read",
            input: input(
                &[(
                    "callId",
                    id("The call's id (from ringside_get_call_history)"),
                )],
                &["callId"],
            ),
            output: list_of(
                "data",
                "The call's recordings",
                typed::<crate::recordings::RecordingView>(),
            ),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/calls/{callId}/recordings",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_account_usage",
            title: "Usage this month",
            description: "This month's usage (visitors, chats, calls, minutes, recordings) \
                          against the account's limits.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "analytics:read",
            input: input(&[], &[]),
            output: typed::<crate::usage::UsageReport>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/account/usage",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_install_snippet",
            title: "Install snippet",
            description: "The one script tag to put in the site's global layout (before \
                          </body>, in a tag manager or a CMS theme) so the widget shows.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "widgets:read",
            input: widget_only(),
            output: typed::<crate::widgets::InstallSnippet>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/install-snippet",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_search_knowledge",
            title: "Search a widget's knowledge base",
            description: "What the widget's assistant knows about a question: the passages of \
                          its knowledge base (pages, documents, Q/A pairs) that match q, best \
                          first (limit, default 5), with the answer the assistant would give \
                          without a model (whole sentences and their sources), or answer null \
                          when nothing answers it.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "widgets:read",
            input: input(
                &[
                    ("widgetId", id(WIDGET)),
                    ("q", text("The question or words to look for", 1000)),
                    ("limit", int("Passages, best first", 1, 50)),
                ],
                &["widgetId", "q"],
            ),
            output: typed::<crate::knowledge::SearchResult>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/widgets/{widgetId}/knowledge/search",
                query: &["q", "limit"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_create_webhook",
            title: "Create a webhook",
            description: "Have Ringside POST signed events (new visitor, chat message, call \
                          requested or missed, callback, usage) to a URL. The answer shows the \
                          signing secret once. Needs webhooks:write.",
            read_only: false,
            destructive: false,
            idempotent: false,
            scope: "webhooks:write",
            input: typed::<crate::webhooks::CreateWebhook>(),
            output: typed::<crate::webhooks::WebhookView>(),
            run: Run::Rest {
                method: "POST",
                path: "/api/v1/webhooks",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_list_contacts",
            title: "List contacts",
            description: "Contacts (leads), most recently changed first; q searches name, \
                          company, email and phone.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "messages:read",
            input: input(
                &[
                    ("q", text("Search text", 200)),
                    ("limit", int("At most", 1, 500)),
                ],
                &[],
            ),
            output: typed::<crate::contacts::ContactList>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/contacts",
                query: &["q", "limit"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_get_contact",
            title: "A contact and their timeline",
            description: "One contact with their visitor sessions and unified timeline \
                          (visits, messages, notes, callbacks, merges), newest first.",
            read_only: true,
            destructive: false,
            idempotent: true,
            scope: "messages:read",
            input: input(
                &[
                    ("contactId", id(CONTACT)),
                    ("limit", int("Timeline entries", 1, 1000)),
                ],
                &["contactId"],
            ),
            output: typed::<crate::contacts::ContactDetail>(),
            run: Run::Rest {
                method: "GET",
                path: "/api/v1/contacts/{contactId}",
                query: &["limit"],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_update_contact",
            title: "Update a contact",
            description: "Change a contact's identity fields (null clears one) or status. \
                          Needs messages:write.",
            read_only: false,
            destructive: true,
            idempotent: true,
            scope: "messages:write",
            input: with_props(
                typed::<crate::contacts::Fields>(),
                &[("contactId", id(CONTACT))],
                &["contactId"],
            ),
            output: typed::<crate::contacts::ContactView>(),
            run: Run::Rest {
                method: "PATCH",
                path: "/api/v1/contacts/{contactId}",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_attach_visitor_session",
            title: "Attach a visitor to a contact",
            description: "Record that a widget visitor is this contact: their chats, calls and \
                          visits join the contact's timeline. Needs messages:write.",
            read_only: false,
            destructive: false,
            idempotent: true,
            scope: "messages:write",
            input: with_props(
                typed::<crate::contacts::AttachBody>(),
                &[("contactId", id(CONTACT))],
                &["contactId"],
            ),
            output: typed::<ringside_storage::ContactSession>(),
            run: Run::Rest {
                method: "POST",
                path: "/api/v1/contacts/{contactId}/visitor-sessions",
                query: &[],
                defaults: &[],
            },
        },
        Tool {
            name: "ringside_merge_contacts",
            title: "Merge duplicate contacts",
            description: "Merge a duplicate (sourceContactId) into contactId: its sessions, \
                          messages, notes and callbacks move over and its email and phone are \
                          kept; nothing is deleted. Say why in reason. Needs messages:write.",
            read_only: false,
            destructive: true,
            idempotent: false,
            scope: "messages:write",
            input: with_props(
                typed::<crate::contacts::MergeBody>(),
                &[("contactId", id("The contact that stays"))],
                &["contactId"],
            ),
            output: typed::<crate::contacts::Merged>(),
            run: Run::Rest {
                method: "POST",
                path: "/api/v1/contacts/{contactId}/merge",
                query: &[],
                defaults: &[],
            },
        },
    ]
}

/// What `tools/list` shows of `t` (`outputSchema` from revision 2025-06-18 on).
pub(crate) fn describe(t: &Tool, structured: bool) -> Value {
    let mut d = json!({
        "name": t.name,
        "title": t.title,
        "description": format!("{} Scope: {}.", t.description, t.scope),
        "inputSchema": t.input,
        "annotations": {
            "title": t.title,
            "readOnlyHint": t.read_only,
            "destructiveHint": t.destructive,
            "idempotentHint": t.idempotent,
            "openWorldHint": false,
        },
    });
    if structured {
        d["outputSchema"] = t.output.clone();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_described_soundly() {
        let tools = all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tools.len(), "unique names");
        for t in tools {
            assert!(t.name.starts_with("ringside_"), "{}", t.name);
            assert_eq!(t.input["type"], "object", "{}", t.name);
            assert_eq!(t.output["type"], "object", "{}", t.name);
            assert!(!(t.read_only && t.destructive), "{}", t.name);
            if let Run::Rest { path, .. } = t.run {
                // Every `{arg}` of the path is a required argument.
                for part in path.split('/').filter(|p| p.starts_with('{')) {
                    let arg = part.trim_matches(|c| c == '{' || c == '}');
                    assert!(
                        t.input["required"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|r| r == arg),
                        "{}: {arg}",
                        t.name
                    );
                }
            }
            let d = describe(t, true);
            assert_eq!(d["annotations"]["readOnlyHint"], t.read_only);
            assert!(describe(t, false).get("outputSchema").is_none());
        }
    }
}
