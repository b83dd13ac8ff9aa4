//! The HTTP plumbing every route shares: bearer-token auth and scopes ([`auth`]), the one JSON
//! error body ([`error`]), extractors with stable rejections ([`extract`]), the OpenAPI
//! document built from the route registrations ([`openapi`]), abuse limits ([`rate_limit`]),
//! connection caps of the listener ([`conn_limits`]), `/healthz` and `/metrics` ([`health`]),
//! what requests made for tenants may reach ([`outbound`]), tenants' secrets sealed at rest
//! ([`sealed`]), and URL checks ([`urls`]).

pub mod auth;
pub mod conn_limits;
pub mod error;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod outbound;
pub mod rate_limit;
pub mod sealed;
pub(crate) mod urls;
