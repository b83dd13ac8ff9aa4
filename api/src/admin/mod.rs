//! The `/api/v1` resources behind personal access tokens, tenant-scoped: SIP extensions and
//! trunks, calls and their settings, recordings, prompts, widgets, visitors, contacts,
//! analytics, usage, the inbox's conversations, the widgets' knowledge bases, assignments of chats and calls to the team, and signed webhooks with their delivery task.

pub mod ai_provider;
pub mod alert_dispatch;
pub mod alerts;
pub mod analytics;
pub mod assignments;
pub mod assistants;
pub mod call_settings;
pub mod calls;
pub mod canned;
pub mod contacts;
pub mod conversations;
pub mod integrations;
pub mod knowledge;
pub mod prompts;
pub mod recordings;
pub mod sip_admin;
pub mod usage;
pub mod visitors;
pub mod webhook_dispatch;
pub mod webhooks;
pub mod webpush;
pub mod widget_prompts;
pub mod widgets;
