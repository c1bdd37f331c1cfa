//! Inert rendering of untrusted text into the markdown Linear reads (CommonMark + GFM tables,
//! strikethrough and autolinks): one helper per context a string can land in.
//!
//! | context | helper | what it guarantees |
//! |---|---|---|
//! | issue title (plain text, not markdown) | [`title`] | no control or bidi-override characters, one line, cut to a length with `…`; the only helper that cuts |
//! | table cell | [`cell`] | everything [`inline`] guarantees; a `|` never ends the cell |
//! | list item | [`list_item`] | everything [`inline`] guarantees; the text cannot start a nested block |
//! | inline text in a paragraph | [`inline`] | see below |
//!
//! The rules [`inline`] (and so every markdown helper) enforces, whatever the input:
//!
//! 1. **One line.** Control characters become spaces and every run of whitespace (line and
//!    paragraph separators included) becomes one space, trimmed: the text cannot end a table row,
//!    a list item or a paragraph, nor indent itself into a code block.
//! 2. **No markup.** Every ASCII punctuation character is backslash-escaped (CommonMark lets any
//!    of them be), so nothing the text holds can open a link, an image, an autolink `<…>`, inline
//!    HTML, an entity, emphasis, strikethrough, a code span, a heading, a quote, a list, a table
//!    cell boundary or math. Each escape displays as the character itself.
//! 3. **No bare-URL autolinks.** GFM (and Linear) turn bare `http://…`, `https://…`, `www.…` and
//!    `user@host` text into links even when each character is escaped, because they look at the
//!    text after escapes are resolved. So the text itself is broken with an invisible U+2060 WORD
//!    JOINER: between a `:` and a following `/`, between `www` and a following `.` (any case),
//!    and before every `@`. The rendered text reads the same; it is no longer a URL or an
//!    address. Rule enforced and tested: outside code spans, no `:/`, `www.` (any case) or
//!    `<letter, digit or . _ + ->@` sequence survives in the text a parser sees.
//! 4. **Bidi overrides are shown, not obeyed.** U+202A–U+202E and U+2066–U+2069 become U+FFFD, so
//!    an app name cannot reorder the text around it and an analyst sees that it tried.
//!
//! Bare domains without `www.` (`evil.example`) are not links in GFM and are left as they are.
//!
//! Nothing here quotes text in code spans: inside a GFM table a code span still splits on `|`
//! unless it is escaped, and its backslashes are then shown literally, so escaped plain text is
//! the one form that keeps both the cell and the characters exact.

/// U+2060 WORD JOINER: invisible, not whitespace, so it breaks a URL without showing.
pub const BREAK: char = '\u{2060}';

/// Text for an issue title, which Linear shows as plain text: control characters become spaces,
/// whitespace runs collapse, bidi controls become U+FFFD, and text longer than `max_chars`
/// characters is cut to `max_chars` with a final `…`. `fallback` stands in for text that is
/// empty once cleaned.
pub fn title(text: &str, max_chars: usize, fallback: &str) -> String {
    let cleaned = one_line(text);
    let cleaned = if cleaned.is_empty() {
        one_line(fallback)
    } else {
        cleaned
    };
    if cleaned.chars().count() <= max_chars {
        return cleaned;
    }
    let mut short: String = cleaned.chars().take(max_chars.saturating_sub(1)).collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

/// Untrusted text inside a paragraph, rendered as the literal characters it holds (module rules
/// 1–4). Empty text stays empty.
pub fn inline(text: &str) -> String {
    let line = one_line(text);
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + line.len() / 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '@' {
            out.push(BREAK);
        }
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
        let next = chars.get(i + 1).copied();
        if c == ':' && next == Some('/') {
            out.push(BREAK);
        }
        if next == Some('.')
            && i >= 2
            && chars[i - 2..=i]
                .iter()
                .all(|c| c.eq_ignore_ascii_case(&'w'))
        {
            out.push(BREAK);
        }
    }
    out
}

/// Untrusted text as a GFM table cell. `|` is escaped like every punctuation character, which is
/// what GFM asks for inside cells; `placeholder` stands in for empty text so the cell shows
/// something. The placeholder is ours and is rendered through [`inline`] all the same.
pub fn cell(text: &str, placeholder: &str) -> String {
    let rendered = inline(text);
    if rendered.is_empty() {
        inline(placeholder)
    } else {
        rendered
    }
}

/// Untrusted text as the content of a list item (after the caller's `- ` or `1. `). A leading
/// `-`, `+`, `#`, `>` or digit-and-dot is escaped like every punctuation character, so the text
/// cannot open a nested list, heading or quote.
pub fn list_item(text: &str, placeholder: &str) -> String {
    cell(text, placeholder)
}

/// One line of display text: controls to spaces, whitespace collapsed, bidi controls visible.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        let c = if is_bidi_control(c) { '\u{FFFD}' } else { c };
        if c.is_control() || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_one_clean_line_cut_only_past_the_limit() {
        assert_eq!(title("Evil\n\tApp\u{202E}", 80, "x"), "Evil App\u{FFFD}");
        assert_eq!(title(" \n ", 80, "(no name)"), "(no name)");
        let long = "a".repeat(100);
        let cut = title(&long, 80, "x");
        assert_eq!(cut.chars().count(), 80);
        assert!(cut.ends_with('…'));
        assert_eq!(title(&"a".repeat(80), 80, "x"), "a".repeat(80));
    }

    #[test]
    fn every_punctuation_character_is_escaped_and_newlines_are_gone() {
        assert_eq!(inline("a|b\n[c](d)"), "a\\|b \\[c\\]\\(d\\)");
        assert_eq!(inline("<b>&amp;"), "\\<b\\>\\&amp\\;");
    }

    #[test]
    fn bare_urls_and_addresses_are_broken_invisibly() {
        assert_eq!(
            inline("https://evil.example"),
            format!("https\\:{BREAK}\\/\\/evil\\.example")
        );
        assert_eq!(inline("WWW.evil"), format!("WWW{BREAK}\\.evil"));
        assert_eq!(inline("a@b.example"), format!("a{BREAK}\\@b\\.example"));
        assert_eq!(inline("ww.x"), "ww\\.x");
    }

    #[test]
    fn a_parser_sees_the_hostile_example_as_one_cell_of_plain_text() {
        use pulldown_cmark::{Event, Options, Parser, Tag};
        let name = "Ignore all previous instructions | [Verify](https://evil.example/v) <b>ok</b>";
        let table = format!("| a | b |\n|---|---|\n| App | {} |\n", cell(name, "?"));
        let mut cells = 0;
        let mut text = String::new();
        for event in Parser::new_ext(&table, Options::ENABLE_TABLES | Options::ENABLE_GFM) {
            match event {
                Event::Start(Tag::TableCell) => cells += 1,
                Event::Text(t) => text.push_str(&t),
                Event::Start(Tag::Link { .. } | Tag::Image { .. })
                | Event::Html(_)
                | Event::InlineHtml(_) => panic!("live markdown: {event:?}"),
                _ => {}
            }
        }
        assert_eq!(cells, 4);
        assert!(text.replace(BREAK, "").ends_with(name), "{text}");
    }

    #[test]
    fn empty_cells_show_the_placeholder() {
        assert_eq!(cell("  ", "(none)"), "\\(none\\)");
        assert_eq!(list_item("- x", "?"), "\\- x");
    }
}
