//! What website visitors' pages reach, known by widget id and key and origin-checked: the
//! widget runtime and its script ([`widget_runtime`], cached widgets in [`widget_cache`]),
//! visitor chat and callbacks ([`messages`], also the operators' side of a conversation),
//! signed conversation links and direct-navigate ([`handoff`]), and user-agent
//! classification ([`user_agent`]), whether anyone is there to answer ([`availability`]), and the assistant's answers from a
//! widget's knowledge base ([`assistant`]).

pub mod ai;
pub mod assistant;
pub mod availability;
pub mod handoff;
pub mod lookup;
pub mod messages;
pub mod user_agent;
pub mod widget_cache;
pub mod widget_runtime;
