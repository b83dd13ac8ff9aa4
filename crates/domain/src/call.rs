//! Typed call values. The call core decides them; storage keeps them as text (the
//! `as_str` forms, which are also what the API and webhooks show), so adding a value here is
//! the one place a new status or reason is introduced.

use std::fmt;
use std::str::FromStr;

/// Defines a closed set of values with their stored text, `Display`, `FromStr` and
/// `From<_> for String`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored (and shown) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        what: stringify!($name),
                        value: s.to_owned(),
                    }),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "enum": [$($text,)+]})
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

    };
}

/// Text that is not one of a type's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// The type asked for.
    pub what: &'static str,
    /// The text given.
    pub value: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}", self.value, self.what)
    }
}

impl std::error::Error for UnknownValue {}

text_enum! {
    /// Where a call is in its life.
    CallStatus {
        /// Ringing its targets.
        Ringing => "ringing",
        /// A queue call answered early by Ringside, the caller on hold music until someone
        /// takes it.
        Waiting => "waiting",
        /// Someone answered; media flows.
        Answered => "answered",
        /// Answered, then hung up.
        Ended => "ended",
        /// Never answered: cancelled by the caller, nobody available, no answer in time.
        Missed => "missed",
        /// Refused by every target (busy, declined, not found, an error).
        Failed => "failed",
    }
}

impl CallStatus {
    /// Whether the call is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallStatus::Ended | CallStatus::Missed | CallStatus::Failed
        )
    }
}

text_enum! {
    /// Where a call comes from.
    CallKind {
        /// A SIP caller: an extension or a trunk.
        Sip => "sip",
        /// A visitor's browser (WebRTC).
        WebRtc => "webrtc",
    }
}

text_enum! {
    /// Who ended a call.
    HangupSide {
        /// The caller (leg A) hung up or cancelled.
        Caller => "caller",
        /// The callee hung up, refused or declined.
        Callee => "callee",
        /// Ringside: timeouts, failures, shutdown.
        System => "system",
    }
}

text_enum! {
    /// What a leg of a call is.
    LegRole {
        /// Leg A: the caller.
        Caller => "caller",
        /// A leg B: a target rung (a phone's contact, a trunk, a browser).
        Callee => "callee",
    }
}

text_enum! {
    /// Why a call ended.
    EndReason {
        /// Hung up after the answer.
        Hangup => "hangup",
        /// The caller gave up while it rang.
        Cancelled => "cancelled",
        /// Nobody answered in time.
        NoAnswer => "no_answer",
        /// Every target was busy.
        Busy => "busy",
        /// The number reached nobody.
        NotFound => "not_found",
        /// The callee declined.
        Declined => "declined",
        /// Refused for another reason (an error response).
        Failed => "failed",
        /// No phone registered, no operator available.
        Unavailable => "unavailable",
        /// Our 2xx was never acknowledged.
        AckTimeout => "ack_timeout",
        /// A browser leg's media failed (ICE or DTLS).
        MediaFailed => "media_failed",
        /// The server shut down with the call still up.
        ServerShutdown => "server_shutdown",
        /// The session timer ran out without a refresh (RFC 4028), or a refresh was refused.
        SessionExpired => "session_expired",
        ServerRestart => "server_restart",
    }
}

impl EndReason {
    /// The reason for a final SIP status every fork answered with.
    pub fn from_sip_status(code: u16) -> EndReason {
        match code {
            486 | 600 => EndReason::Busy,
            480 | 408 => EndReason::NoAnswer,
            404 | 604 => EndReason::NotFound,
            603 => EndReason::Declined,
            _ => EndReason::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text() {
        fn check<T: Copy + PartialEq + fmt::Debug + FromStr + Into<String>>(all: &[T]) {
            let mut seen = std::collections::HashSet::new();
            for &v in all {
                let s: String = v.into();
                assert!(seen.insert(s.clone()), "{s} twice");
                assert_eq!(s.parse::<T>().ok(), Some(v));
            }
        }
        check(CallStatus::ALL);
        check(CallKind::ALL);
        check(HangupSide::ALL);
        check(LegRole::ALL);
        check(EndReason::ALL);
    }

    #[test]
    fn stored_text_is_what_the_api_and_webhooks_have_always_shown() {
        assert_eq!(CallStatus::Waiting.as_str(), "waiting");
        assert_eq!(CallKind::WebRtc.to_string(), "webrtc");
        assert_eq!(EndReason::NoAnswer.as_str(), "no_answer");
        assert_eq!(EndReason::ServerShutdown.as_str(), "server_shutdown");
        assert_eq!(LegRole::Callee.as_str(), "callee");
        let e = "hung_up".parse::<EndReason>().unwrap_err();
        assert_eq!(e.to_string(), "\"hung_up\" is not a EndReason");
    }

    #[test]
    fn sip_statuses_map_to_end_reasons() {
        assert_eq!(EndReason::from_sip_status(486), EndReason::Busy);
        assert_eq!(EndReason::from_sip_status(600), EndReason::Busy);
        assert_eq!(EndReason::from_sip_status(408), EndReason::NoAnswer);
        assert_eq!(EndReason::from_sip_status(604), EndReason::NotFound);
        assert_eq!(EndReason::from_sip_status(603), EndReason::Declined);
        assert_eq!(EndReason::from_sip_status(500), EndReason::Failed);
        assert!(CallStatus::Missed.is_final() && !CallStatus::Waiting.is_final());
    }
}
