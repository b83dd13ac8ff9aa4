//! The JSON Schemas of the MCP tools, and a validator for the part of JSON Schema they use
//! (`type`, `properties`, `required`, `additionalProperties: false`, `enum`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `items`), so bad arguments get an error naming the
//! field before anything runs.

use serde_json::{json, Map, Value};

/// A non-empty string of at most `max` characters.
pub fn text(description: &str, max: u64) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "description": description})
}

/// An id (1-128 characters).
pub fn id(description: &str) -> Value {
    text(description, 128)
}

/// An integer in `min..=max`.
pub fn int(description: &str, min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max, "description": description})
}

/// An array of `items`.
pub fn array(description: &str, items: Value) -> Value {
    json!({"type": "array", "items": items, "description": description})
}

/// Arguments: exactly these properties, `required` ones required.
pub fn input(props: &[(&str, Value)], required: &[&str]) -> Value {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).to_owned(), v.clone());
    }
    json!({"type": "object", "properties": p, "required": required, "additionalProperties": false})
}

/// A result object: these properties (more may come).
pub fn output(props: &[(&str, Value)], required: &[&str]) -> Value {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).to_owned(), v.clone());
    }
    json!({"type": "object", "properties": p, "required": required})
}

/// The JSON Schema of Rust type `T`, whole (every referenced type inlined), as the REST
/// API's document has it: a tool's output schema is its REST answer's.
pub fn typed<T: schemars::JsonSchema>() -> Value {
    let mut settings = crate::openapi::schema_settings();
    settings.inline_subschemas = true;
    let mut v = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    v
}

/// `schema` (an object's) with more properties: a tool's path arguments (`widgetId`) beside
/// the REST body's fields, or what a tool adds to a REST answer.
pub fn with_props(mut schema: Value, props: &[(&str, Value)], required: &[&str]) -> Value {
    if let Some(p) = schema["properties"].as_object_mut() {
        for (k, v) in props {
            p.insert((*k).to_owned(), v.clone());
        }
    }
    if !required.is_empty() {
        let mut r = schema["required"].as_array().cloned().unwrap_or_default();
        r.extend(required.iter().map(|k| json!(k)));
        schema["required"] = Value::Array(r);
    }
    schema
}

/// A list of objects under `key`.
pub fn list_of(key: &str, description: &str, item: Value) -> Value {
    output(&[(key, array(description, item))], &[key])
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Checks `v` against `schema`; the first problem, naming where (`widgetId`, `aliases[0].tagKey`).
pub fn validate(schema: &Value, v: &Value) -> Result<(), String> {
    check(schema, v, "")
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn check(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let name = if path.is_empty() { "arguments" } else { path };
    match schema.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            return Err(format!("`{name}` must be {}", article(t)));
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| t.as_str().is_some_and(|t| type_ok(t, v))) => {
            return Err(format!("`{name}` has the wrong type"));
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("`{name}` must be one of {}", list.join(", ")));
        }
    }
    if let Some(s) = v.as_str() {
        let n = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            return Err(format!("`{name}` must not be empty"));
        }
        if let Some(m) = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .filter(|m| n > *m)
        {
            return Err(format!("`{name}` is longer than {m} characters"));
        }
    }
    // Any number (an integer beyond i64 too) against the bounds.
    if let Some(n) = v.as_f64() {
        if let Some(m) = schema.get("minimum").and_then(Value::as_i64) {
            if n < m as f64 {
                return Err(format!("`{name}` must be at least {m}"));
            }
        }
        if let Some(m) = schema.get("maximum").and_then(Value::as_i64) {
            if n > m as f64 {
                return Err(format!("`{name}` must be at most {m}"));
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, x) in list.iter().enumerate() {
            check(items, x, &format!("{name}[{i}]"))?;
        }
    }
    if let Some(o) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !o.contains_key(r) {
                return Err(format!("`{}` is required", at(path, r)));
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, x, &at(path, k))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    let known: Vec<&String> = props.map(|p| p.keys().collect()).unwrap_or_default();
                    return Err(format!(
                        "`{}` is not an argument here (known: {})",
                        at(path, k),
                        known
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                None => {}
            }
        }
    }
    Ok(())
}

fn article(t: &str) -> &'static str {
    match t {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "an array",
        "object" => "an object",
        _ => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let s = input(
            &[
                ("widgetId", id("The widget")),
                ("limit", int("How many", 1, 500)),
                ("kind", json!({"type": "string", "enum": ["a", "b"]})),
                (
                    "aliases",
                    array("Aliases", input(&[("tagKey", id("k"))], &["tagKey"])),
                ),
            ],
            &["widgetId"],
        );
        assert!(validate(&s, &json!({"widgetId": "w1", "limit": 3})).is_ok());
        let e = |v: Value| validate(&s, &v).unwrap_err();
        assert_eq!(e(json!({})), "`widgetId` is required");
        assert_eq!(e(json!({"widgetId": 5})), "`widgetId` must be a string");
        assert_eq!(e(json!({"widgetId": ""})), "`widgetId` must not be empty");
        assert_eq!(
            e(json!({"widgetId": "w", "limit": 0})),
            "`limit` must be at least 1"
        );
        assert_eq!(
            e(json!({"widgetId": "w", "limit": 1.5})),
            "`limit` must be an integer"
        );
        assert_eq!(
            e(json!({"widgetId": "w", "limit": u64::MAX})),
            "`limit` must be at most 500"
        );
        assert_eq!(
            e(json!({"widgetId": "w", "kind": "c"})),
            "`kind` must be one of \"a\", \"b\""
        );
        assert!(e(json!({"widgetId": "w", "bogus": 1})).starts_with("`bogus` is not an argument"));
        assert_eq!(
            e(json!({"widgetId": "w", "aliases": [{}]})),
            "`aliases[0].tagKey` is required"
        );
        assert_eq!(e(json!([])), "`arguments` must be an object");
        assert!(validate(
            &output(&[("a", json!({"type": "string"}))], &["a"]),
            &json!({"a": "1", "b": 2})
        )
        .is_ok());
    }
}
