//! Slack's Block Kit size limits, and text that keeps within them. Slack refuses a whole message
//! (`invalid_blocks`) when one text is a character too long, so a card built from untrusted
//! fields (a role name, an event id) must cut each of them first, visibly, or the message never
//! reaches anyone.
//!
//! The limits are those of Slack's Block Kit reference (blocks, block elements, composition
//! objects). Lengths are counted in UTF-16 code units, as Slack's own clients count them: never
//! fewer than the characters, so a text that fits here fits Slack whichever way it counts.

/// A section block's `text`.
pub const SECTION_TEXT: usize = 3_000;
/// Each of a section block's `fields`.
pub const SECTION_FIELD: usize = 2_000;
/// Each text element of a context block (a text object may hold 3,000; we keep under the
/// section-field limit so a context line never grows into a wall of text).
pub const CONTEXT_TEXT: usize = 2_000;
/// A header block's `plain_text`.
pub const HEADER_TEXT: usize = 150;
/// A button's label.
pub const BUTTON_TEXT: usize = 75;
/// A button's `value`.
pub const BUTTON_VALUE: usize = 2_000;
/// A block's `block_id`, and an element's `action_id`.
pub const BLOCK_ID: usize = 255;
/// A confirmation dialog's title and text.
pub const CONFIRM_TITLE: usize = 100;
pub const CONFIRM_TEXT: usize = 300;
/// Blocks in one message.
pub const MESSAGE_BLOCKS: usize = 50;
/// A message's fallback `text` (`chat.postMessage` cuts longer ones).
pub const MESSAGE_TEXT: usize = 40_000;

/// Marks a text that was cut.
pub const ELLIPSIS: char = '…';

/// `text`'s length as Slack counts it.
pub fn slack_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` cut to at most `max` (as [`slack_len`] counts), ending in an ellipsis when it was
/// cut. Never splits a character. For plain text; mrkdwn wants [`fit_mrkdwn`].
pub fn cut(text: &str, max: usize) -> String {
    if slack_len(text) <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(ELLIPSIS.len_utf16());
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > room {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    if max >= ELLIPSIS.len_utf16() {
        out.push(ELLIPSIS);
    }
    out
}

/// Escape `&`, `<` and `>` so Slack renders text as written: no links, mentions or broadcasts.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `raw` (untrusted) escaped for mrkdwn as [`slack_escape`] does, and cut
/// so that the escaped text, ellipsis included, is at most `max`. An entity (`&lt;`) is kept
/// whole or left out, never split.
pub fn escape_within(raw: &str, max: usize) -> String {
    let piece = |c: char| -> Option<&'static str> {
        match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            _ => None,
        }
    };
    let len = |c: char| piece(c).map_or(c.len_utf16(), str::len);
    let whole: usize = raw.chars().map(len).sum();
    let room = if whole <= max {
        max
    } else {
        max.saturating_sub(ELLIPSIS.len_utf16())
    };
    let mut out = String::new();
    let mut used = 0;
    for c in raw.chars() {
        if used + len(c) > room {
            break;
        }
        used += len(c);
        match piece(c) {
            Some(entity) => out.push_str(entity),
            None => out.push(c),
        }
    }
    if whole > max && max >= ELLIPSIS.len_utf16() {
        out.push(ELLIPSIS);
    }
    out
}

/// Already-built mrkdwn (escaped pieces, our own `<@U…>` mentions, `*bold*`) cut to `max`,
/// ending in an ellipsis when cut. The cut backs off to before an entity (`&…;`) or a markup
/// sequence (`<…>`) it would split, so it never leaves half an escape or half a mention.
pub fn fit_mrkdwn(text: &str, max: usize) -> String {
    if slack_len(text) <= max {
        return text.to_owned();
    }
    let cut = cut(text, max);
    let mut kept = cut.strip_suffix(ELLIPSIS).unwrap_or(&cut).to_owned();
    // An `&` or `<` after the last `;` or `>` opens something the cut closed early.
    let last_open = kept.rfind(['&', '<']);
    let last_close = kept.rfind([';', '>']);
    if let Some(open) = last_open
        && last_close.is_none_or(|close| close < open)
    {
        kept.truncate(open);
    }
    kept.push(ELLIPSIS);
    kept
}

/// `blocks` with `"verbatim": true` on every `mrkdwn` text object. Slack otherwise turns bare
/// URLs and channel names in the text into links ("When set to false (as is default) URLs
/// will be auto-converted into links, conversation names will be link-ified", Block Kit text
/// object reference); escaping `&`, `<` and `>` does not stop that. Our own explicit markup
/// (`<@U…>` mentions, `*bold*`) still renders.
pub fn verbatim(mut blocks: serde_json::Value) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(object) => {
                if object.get("type").and_then(serde_json::Value::as_str) == Some("mrkdwn")
                    && object.contains_key("text")
                {
                    object.insert("verbatim".to_owned(), serde_json::Value::Bool(true));
                }
                object.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut blocks);
    blocks
}

/// Every Block Kit limit `blocks` (a message's `blocks` array) breaks, as readable lines; empty
/// when Slack would take it. Checks the blocks and elements this project builds: header,
/// section (text, fields), context, actions with buttons (confirm dialogs included), divider.
pub fn limit_violations(blocks: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let mut out = Vec::new();
    let mut over = |what: String, text: Option<&str>, max: usize| {
        if let Some(text) = text
            && slack_len(text) > max
        {
            out.push(format!("{what}: {} > {max}", slack_len(text)));
        }
    };
    let Some(list) = blocks.as_array() else {
        return vec!["blocks is not an array".to_owned()];
    };
    let mut counts = Vec::new();
    if list.len() > MESSAGE_BLOCKS {
        counts.push(format!("{} blocks > {MESSAGE_BLOCKS}", list.len()));
    }
    for (i, block) in list.iter().enumerate() {
        // `block[key]` as a list, noting in `counts` when it holds more than `max` `items`.
        let mut listed = |key: &str, items: &str, max: usize| {
            let list = block[key].as_array().map(Vec::as_slice).unwrap_or_default();
            if list.len() > max {
                counts.push(format!("block {i}: {} {items} > {max}", list.len()));
            }
            list
        };
        let kind = block["type"].as_str().unwrap_or("?");
        over(
            format!("block {i} block_id"),
            block["block_id"].as_str(),
            BLOCK_ID,
        );
        match kind {
            "header" => over(
                format!("block {i} header"),
                block["text"]["text"].as_str(),
                HEADER_TEXT,
            ),
            "section" => {
                over(
                    format!("block {i} section text"),
                    block["text"]["text"].as_str(),
                    SECTION_TEXT,
                );
                let fields = listed("fields", "fields", 10);
                for (j, field) in fields.iter().enumerate() {
                    over(
                        format!("block {i} field {j}"),
                        field["text"].as_str(),
                        SECTION_FIELD,
                    );
                }
            }
            "context" => {
                let elements = listed("elements", "context elements", 10);
                for (j, element) in elements.iter().enumerate() {
                    over(
                        format!("block {i} context element {j}"),
                        element["text"].as_str(),
                        CONTEXT_TEXT,
                    );
                }
            }
            "actions" => {
                let elements = listed("elements", "action elements", 25);
                for (j, e) in elements.iter().enumerate() {
                    let at = |what: &str| format!("block {i} element {j} {what}");
                    over(at("action_id"), e["action_id"].as_str(), BLOCK_ID);
                    over(at("text"), e["text"]["text"].as_str(), BUTTON_TEXT);
                    over(at("value"), e["value"].as_str(), BUTTON_VALUE);
                    let confirm = &e["confirm"];
                    if confirm.is_object() {
                        over(
                            at("confirm title"),
                            confirm["title"]["text"].as_str(),
                            CONFIRM_TITLE,
                        );
                        over(
                            at("confirm text"),
                            confirm["text"]["text"].as_str(),
                            CONFIRM_TEXT,
                        );
                        over(
                            at("confirm button"),
                            confirm["confirm"]["text"].as_str(),
                            30,
                        );
                        over(at("deny button"), confirm["deny"]["text"].as_str(), 30);
                    }
                }
            }
            _ => {}
        }
        if block.get("text").is_some_and(Value::is_object)
            && block["text"]["text"].as_str().is_some_and(str::is_empty)
        {
            counts.push(format!("block {i}: empty text"));
        }
    }
    out.extend(counts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_names_each_broken_limit() {
        let long = "x".repeat(3_001);
        let blocks = serde_json::json!([
            {"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": long}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f".repeat(2_001)}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c".repeat(2_001)}]},
            {"type": "actions", "elements": [{"type": "button", "action_id": "a",
                "text": {"type": "plain_text", "text": "b".repeat(76)}, "value": "v".repeat(2_001)}]},
        ]);
        let found = limit_violations(&blocks);
        assert_eq!(found.len(), 6, "{found:?}");
        assert!(
            limit_violations(&serde_json::json!([
                {"type": "section", "text": {"type": "mrkdwn", "text": "fine"}}
            ]))
            .is_empty()
        );
    }

    #[test]
    fn short_text_is_left_alone() {
        assert_eq!(cut("payments", 10), "payments");
        assert_eq!(escape_within("a<b", 10), "a&lt;b");
        assert_eq!(fit_mrkdwn("*Role*\nadmin", 100), "*Role*\nadmin");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_limit() {
        let long = "x".repeat(5_000);
        let cut = cut(&long, SECTION_FIELD);
        assert_eq!(slack_len(&cut), SECTION_FIELD);
        assert!(cut.ends_with(ELLIPSIS));
    }

    #[test]
    fn cuts_never_split_a_character_and_count_as_slack_does() {
        // Each emoji is two UTF-16 units; each é one.
        let text = "é🔑".repeat(1_000);
        for max in [1, 2, 3, 4, 5, 150, 151, 2_000] {
            let cut = cut(&text, max);
            assert!(slack_len(&cut) <= max, "{max}: {}", slack_len(&cut));
            let escaped = escape_within(&text, max);
            assert!(slack_len(&escaped) <= max, "{max}");
        }
    }

    #[test]
    fn escaping_counts_the_entities_and_never_splits_one() {
        let hostile = "<!channel>".repeat(1_000);
        for max in 1..60 {
            let out = escape_within(&hostile, max);
            assert!(slack_len(&out) <= max, "{max}: {out}");
            assert!(!out.contains('<') && !out.contains('>'), "{out}");
            let body = out.trim_end_matches(ELLIPSIS);
            // Every `&` starts a whole entity.
            for (i, _) in body.match_indices('&') {
                let rest = &body[i..];
                assert!(
                    rest.starts_with("&lt;")
                        || rest.starts_with("&gt;")
                        || rest.starts_with("&amp;"),
                    "{max}: {out}"
                );
            }
        }
    }

    #[test]
    fn fitting_markup_backs_off_from_a_split_entity_or_mention() {
        let text = format!("{}&amp;<@U0123456> end", "a".repeat(10));
        for max in 10..text.len() {
            let out = fit_mrkdwn(&text, max);
            assert!(slack_len(&out) <= max, "{max}: {out}");
            let body = out.trim_end_matches(ELLIPSIS);
            let opens = body.matches('<').count();
            assert_eq!(opens, body.matches('>').count(), "{max}: {out}");
            if let Some(amp) = body.rfind('&') {
                assert!(body[amp..].contains(';'), "{max}: {out}");
            }
        }
    }
}
