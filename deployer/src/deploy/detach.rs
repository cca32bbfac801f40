//! A deployed template without some of its resources, for moving them to
//! another stack: CloudFormation's way is to update the stack with a
//! template that no longer declares them, which keeps them only when their
//! `DeletionPolicy` is `Retain` ("Reverting an import operation",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-revert.html>),
//! and then to import them into the other stack.
//!
//! Every reference to a detached resource (`Ref`, `Fn::GetAtt`, `${...}`
//! in `Fn::Sub`, `DependsOn`) becomes the value it resolves to, so the
//! resources that used it keep the same settings: a function still names
//! the same table, a role still grants on the same ARN.

use serde_json::{Map, Value};

/// A resource to take out of a template, with the values its references
/// resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detached {
    pub logical_id: String,
    /// What `Ref` gives: for a table, its name.
    pub reference: String,
    /// What `Fn::GetAtt` gives, by attribute name (`Arn`, `StreamArn`).
    pub attributes: Vec<(String, String)>,
}

impl Detached {
    fn attribute(&self, name: &str) -> Result<&str, String> {
        self.attributes
            .iter()
            .find(|(attribute, _)| attribute == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| {
                format!(
                    "the template uses {}.{name}, which is not known here",
                    self.logical_id
                )
            })
    }
}

/// `template` without the `detached` resources; see the module
/// documentation. Refuses a resource that is not there, or that the
/// update would delete (its `DeletionPolicy` is not `Retain`), and a
/// reference it cannot resolve.
pub fn without(template: &Value, detached: &[Detached]) -> Result<Value, String> {
    let ids: Vec<&str> = detached.iter().map(|d| d.logical_id.as_str()).collect();
    retained(template, &ids)?;
    let mut template = template.clone();
    let resources = template
        .get_mut("Resources")
        .and_then(Value::as_object_mut)
        .ok_or("the template has no Resources")?;
    for id in ids {
        resources.remove(id);
    }
    resolve(&mut template, detached)?;
    if let Some(left) = mentions(&template, detached) {
        return Err(format!("the template still refers to {left}"));
    }
    Ok(template)
}

/// Whether `template` declares each of `ids` with the `DeletionPolicy`
/// `Retain`, which alone keeps a resource that leaves the stack; the
/// refusal says which does not.
pub fn retained(template: &Value, ids: &[&str]) -> Result<(), String> {
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or("the template has no Resources")?;
    for id in ids {
        let declared = resources
            .get(*id)
            .ok_or_else(|| format!("the template declares no {id}"))?;
        let policy = declared.get("DeletionPolicy").and_then(Value::as_str);
        if policy != Some("Retain") {
            return Err(format!(
                "{id} has the DeletionPolicy {}, not Retain: a stack update without it would delete it",
                policy.unwrap_or("Delete (the default)")
            ));
        }
    }
    Ok(())
}

/// Replaces every reference to `detached` in `value` by its value.
fn resolve(value: &mut Value, detached: &[Detached]) -> Result<(), String> {
    match value {
        Value::Object(object) => {
            if let Some(resolved) = resolved_intrinsic(object, detached)? {
                *value = resolved;
                return Ok(());
            }
            if let Some(depends_on) = object.get_mut("DependsOn") {
                drop_dependencies(depends_on, detached);
                if depends_on.as_array().is_some_and(Vec::is_empty) {
                    object.remove("DependsOn");
                }
            }
            for child in object.values_mut() {
                resolve(child, detached)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| resolve(item, detached)),
        _ => Ok(()),
    }
}

/// The value of `object` when it is a `Ref`, `Fn::GetAtt` or `Fn::Sub`
/// of a detached resource.
fn resolved_intrinsic(
    object: &mut Map<String, Value>,
    detached: &[Detached],
) -> Result<Option<Value>, String> {
    if object.len() != 1 {
        return Ok(None);
    }
    let find = |id: &str| detached.iter().find(|d| d.logical_id == id);
    if let Some(Value::String(id)) = object.get("Ref")
        && let Some(resource) = find(id)
    {
        return Ok(Some(Value::String(resource.reference.clone())));
    }
    if let Some(target) = object.get("Fn::GetAtt") {
        let (id, attribute) = match target {
            Value::Array(parts) => (
                parts
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                parts
                    .get(1)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            Value::String(dotted) => match dotted.split_once('.') {
                Some((id, attribute)) => (id.to_owned(), attribute.to_owned()),
                None => (dotted.clone(), String::new()),
            },
            _ => (String::new(), String::new()),
        };
        if let Some(resource) = find(&id) {
            return Ok(Some(Value::String(
                resource.attribute(&attribute)?.to_owned(),
            )));
        }
    }
    if let Some(sub) = object.get_mut("Fn::Sub") {
        let text = match sub {
            Value::String(text) => Some(text),
            Value::Array(parts) => parts.first_mut().and_then(|first| match first {
                Value::String(text) => Some(text),
                _ => None,
            }),
            _ => None,
        };
        if let Some(text) = text {
            for resource in detached {
                let id = &resource.logical_id;
                *text = text.replace(&format!("${{{id}}}"), &resource.reference);
                for (attribute, value) in &resource.attributes {
                    *text = text.replace(&format!("${{{id}.{attribute}}}"), value);
                }
            }
        }
    }
    Ok(None)
}

fn drop_dependencies(depends_on: &mut Value, detached: &[Detached]) {
    let is_detached = |id: &Value| {
        detached
            .iter()
            .any(|d| Some(d.logical_id.as_str()) == id.as_str())
    };
    match depends_on {
        Value::Array(ids) => ids.retain(|id| !is_detached(id)),
        one if is_detached(one) => *one = Value::Array(Vec::new()),
        _ => {}
    }
}

/// A reference to a detached resource that is still in `value`, if any.
fn mentions(value: &Value, detached: &[Detached]) -> Option<String> {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let named = |id: &str| detached.iter().any(|d| d.logical_id == id);
                match (key.as_str(), child) {
                    ("Ref", Value::String(id)) if named(id) => return Some(format!("Ref {id}")),
                    ("Fn::GetAtt", Value::Array(parts))
                        if parts.first().and_then(Value::as_str).is_some_and(named) =>
                    {
                        return Some(format!("Fn::GetAtt {child}"));
                    }
                    ("DependsOn", _) if mentions_id(child, &named) => {
                        return Some(format!("DependsOn {child}"));
                    }
                    _ => {}
                }
                if let Some(found) = mentions(child, detached) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(|item| mentions(item, detached)),
        Value::String(text) => detached
            .iter()
            .find(|d| text.contains(&format!("${{{}", d.logical_id)))
            .map(|d| format!("${{{}...}} in {text:?}", d.logical_id)),
        _ => None,
    }
}

fn mentions_id(value: &Value, named: &impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(id) => named(id),
        Value::Array(ids) => ids.iter().filter_map(Value::as_str).any(named),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app stack's template as the version before the data stack
    /// deployed it: the event store's tables in the app stack itself.
    const LEGACY: &str = include_str!("../../tests/fixtures/legacy-app-stack.yaml");

    fn tables() -> Vec<Detached> {
        vec![
            Detached {
                logical_id: "EventsTable".to_owned(),
                reference: "evs-EventsTable-1".to_owned(),
                attributes: vec![
                    (
                        "Arn".to_owned(),
                        "arn:aws:dynamodb:r:1:table/evs-EventsTable-1".to_owned(),
                    ),
                    (
                        "StreamArn".to_owned(),
                        "arn:aws:dynamodb:r:1:table/evs-EventsTable-1/stream/s".to_owned(),
                    ),
                ],
            },
            Detached {
                logical_id: "StreamIndexTable".to_owned(),
                reference: "evs-StreamIndexTable-2".to_owned(),
                attributes: vec![(
                    "Arn".to_owned(),
                    "arn:aws:dynamodb:r:1:table/evs-StreamIndexTable-2".to_owned(),
                )],
            },
        ]
    }

    #[test]
    fn the_legacy_app_stack_loses_its_tables_and_keeps_their_values() {
        let legacy: Value = serde_yaml::from_str(LEGACY).expect("the fixture parses");
        let detached = without(&legacy, &tables()).expect("detachable");
        let resources = detached["Resources"].as_object().expect("resources");
        assert!(
            !resources.contains_key("EventsTable") && !resources.contains_key("StreamIndexTable")
        );
        assert_eq!(
            resources.len(),
            legacy["Resources"].as_object().expect("resources").len() - 2
        );
        let text = detached.to_string();
        assert!(
            !text.contains("\"EventsTable\"") && !text.contains("\"StreamIndexTable\""),
            "{text}"
        );
        // The functions still name the same tables, the mapping the same
        // stream, the roles the same ARNs.
        let add_event = &resources["AddEventFunction"]["Properties"]["Environment"]["Variables"];
        assert_eq!(add_event["EVENTS_TABLE"], "evs-EventsTable-1");
        assert_eq!(add_event["STREAM_INDEX_TABLE"], "evs-StreamIndexTable-2");
        assert_eq!(
            resources["ProjectorEventSource"]["Properties"]["EventSourceArn"],
            "arn:aws:dynamodb:r:1:table/evs-EventsTable-1/stream/s"
        );
        assert!(text.contains("arn:aws:dynamodb:r:1:table/evs-StreamIndexTable-2"));
        assert_eq!(
            detached["Outputs"]["EventsTableName"]["Value"],
            "evs-EventsTable-1"
        );
        // Everything else is as it was.
        assert_eq!(
            resources["ReadModelTable"],
            legacy["Resources"]["ReadModelTable"]
        );
        assert_eq!(detached["Parameters"], legacy["Parameters"]);
    }

    #[test]
    fn a_resource_the_update_would_delete_is_refused() {
        let mut legacy: Value = serde_yaml::from_str(LEGACY).expect("the fixture parses");
        legacy["Resources"]["EventsTable"]
            .as_object_mut()
            .expect("a resource")
            .remove("DeletionPolicy");
        let err = without(&legacy, &tables()).expect_err("not retained");
        assert!(
            err.contains("EventsTable") && err.contains("not Retain"),
            "{err}"
        );
    }

    #[test]
    fn subs_dependencies_and_unknown_attributes() {
        let template = serde_json::json!({
            "Resources": {
                "EventsTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain"},
                "StreamIndexTable": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain"},
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "DependsOn": ["EventsTable", "Other"],
                    "Properties": {"P": {"Fn::Sub": "${EventsTable.Arn}/index/*"},
                                   "Q": {"Fn::Sub": ["${EventsTable}-${X}", {"X": "y"}]}},
                },
                "Other": {"Type": "T", "DependsOn": "StreamIndexTable"},
            }
        });
        let detached = without(&template, &tables()).expect("detachable");
        assert_eq!(
            detached["Resources"]["Role"]["Properties"]["P"]["Fn::Sub"],
            "arn:aws:dynamodb:r:1:table/evs-EventsTable-1/index/*"
        );
        assert_eq!(
            detached["Resources"]["Role"]["Properties"]["Q"]["Fn::Sub"][0],
            "evs-EventsTable-1-${X}"
        );
        assert_eq!(
            detached["Resources"]["Role"]["DependsOn"],
            serde_json::json!(["Other"])
        );
        assert!(detached["Resources"]["Other"].get("DependsOn").is_none());

        let mut unknown = template.clone();
        unknown["Resources"]["Other"]["Properties"] =
            serde_json::json!({"L": {"Fn::GetAtt": ["StreamIndexTable", "StreamArn"]}});
        let err = without(&unknown, &tables()).expect_err("no stream on the index");
        assert!(err.contains("StreamIndexTable.StreamArn"), "{err}");
    }
}
