//! Live state and sockets: the dashboard and widget WebSockets on the event bus
//! ([`realtime`]), live visitors ([`presence`]), the operators' browser console
//! ([`console`]), and browser-call signalling over the widget socket ([`browser_calls`]).

pub mod browser_calls;
pub mod console;
pub mod presence;
pub mod realtime;
