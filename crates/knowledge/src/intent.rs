//! What a visitor's message is, by its words: a greeting, thanks, a request for a person, a
//! question the company profile answers, or any other question (for the knowledge base).
//! Rules, not a model: each is small, predictable and tested.

/// A message's intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// "hi", "good morning": answered with a greeting, never a lookup.
    Greeting,
    /// "thanks!".
    Thanks,
    /// "can I talk to a person?": the conversation goes to the team.
    Human,
    /// A question the company profile answers (when the knowledge base does not).
    Profile(Topic),
    /// Anything else.
    Question,
}

/// What a profile question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Opening hours.
    Hours,
    /// Phone, email.
    Contact,
    /// Where the business is.
    Address,
    /// What the business is and does.
    About,
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "yo",
    "hola",
    "olá",
    "ola",
    "bonjour",
    "salut",
    "hallo",
    "ciao",
    "buongiorno",
    "hoi",
    "greetings",
    "morning",
    "evening",
    "afternoon",
    "bom",
    "dia",
    "buenos",
    "dias",
    "días",
    "tardes",
    "guten",
    "tag",
];
const GREETING_FILL: &[&str] = &[
    "there", "team", "good", "all", "everyone", "again", "folks", "guys",
];
const THANKS: &[&str] = &[
    "thanks", "thank", "thx", "ty", "cheers", "obrigado", "obrigada", "gracias", "merci", "danke",
    "grazie", "bedankt",
];
const THANKS_FILL: &[&str] = &[
    "you", "very", "much", "so", "a", "lot", "ok", "okay", "great", "perfect", "that's", "thats",
    "helpful", "for", "the", "help", "awesome", "nice",
];
const HUMAN_PHRASES: &[&str] = &[
    "talk to a human",
    "speak to a human",
    "talk to a person",
    "speak to a person",
    "real person",
    "a human",
    "live agent",
    "an agent",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk with someone",
    "customer service",
    "representative",
    "an operator",
    "human please",
    "agent please",
    "falar com alguém",
    "hablar con alguien",
    "parler à quelqu'un",
    "mit einem menschen",
];

/// The words of `s`, lowercased.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The intent of a visitor's message.
pub fn classify(message: &str) -> Intent {
    let lower = format!(" {} ", words(message).join(" "));
    let w = words(message);
    if w.is_empty() {
        return Intent::Question;
    }
    let only = |main: &[&str], fill: &[&str]| {
        w.iter().any(|x| main.contains(&x.as_str()))
            && w.iter()
                .all(|x| main.contains(&x.as_str()) || fill.contains(&x.as_str()))
    };
    if only(GREETINGS, GREETING_FILL) {
        return Intent::Greeting;
    }
    if only(THANKS, THANKS_FILL) {
        return Intent::Thanks;
    }
    if HUMAN_PHRASES
        .iter()
        .any(|p| lower.contains(&format!(" {p} ")))
        || (w.len() <= 3
            && w.iter()
                .any(|x| matches!(x.as_str(), "human" | "agent" | "person" | "operator")))
    {
        return Intent::Human;
    }
    let has = |keys: &[&str]| keys.iter().any(|k| lower.contains(&format!(" {k} ")));
    if has(&[
        "hours",
        "opening",
        "open",
        "opened",
        "close",
        "closing",
        "closed",
        "horario",
        "horário",
        "öffnungszeiten",
        "horaires",
    ]) {
        return Intent::Profile(Topic::Hours);
    }
    if has(&[
        "phone",
        "telephone",
        "email",
        "e mail",
        "mail",
        "contact",
        "reach you",
        "call you",
        "phone number",
        "telefone",
        "teléfono",
        "telefono",
    ]) {
        return Intent::Profile(Topic::Contact);
    }
    if has(&[
        "address",
        "where are you",
        "located",
        "location",
        "find you",
        "directions",
        "morada",
        "dirección",
        "adresse",
    ]) {
        return Intent::Profile(Topic::Address);
    }
    if has(&[
        "what do you do",
        "who are you",
        "about you",
        "about your company",
        "your company",
        "what does your company",
        "what is your business",
        "what services",
        "what you do",
        "what do you offer",
        "what do you sell",
    ]) {
        return Intent::Profile(Topic::About);
    }
    Intent::Question
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_and_thanks_are_not_questions() {
        for g in [
            "hi",
            "Hello!",
            "hey there",
            "Good morning team",
            "olá",
            "Bom dia",
        ] {
            assert_eq!(classify(g), Intent::Greeting, "{g}");
        }
        for t in ["thanks", "Thank you very much!", "ok thanks", "obrigado"] {
            assert_eq!(classify(t), Intent::Thanks, "{t}");
        }
        assert_eq!(classify("hi, do you ship to Spain?"), Intent::Question);
        assert_eq!(classify("thanks, and the price?"), Intent::Question);
    }

    #[test]
    fn asking_for_a_person_is_a_handover() {
        for h in [
            "Can I talk to a human?",
            "agent",
            "real person please",
            "I want to speak to someone",
        ] {
            assert_eq!(classify(h), Intent::Human, "{h}");
        }
        assert_eq!(
            classify("what does a travel agent charge here"),
            Intent::Question
        );
    }

    #[test]
    fn profile_topics() {
        assert_eq!(
            classify("What are your opening hours?"),
            Intent::Profile(Topic::Hours)
        );
        assert_eq!(
            classify("are you open on sunday"),
            Intent::Profile(Topic::Hours)
        );
        assert_eq!(
            classify("what's your phone number"),
            Intent::Profile(Topic::Contact)
        );
        assert_eq!(
            classify("Where are you located?"),
            Intent::Profile(Topic::Address)
        );
        assert_eq!(classify("What do you do?"), Intent::Profile(Topic::About));
        assert_eq!(classify("how long is delivery"), Intent::Question);
        assert_eq!(classify(""), Intent::Question);
    }
}
