//! An account's `dialPlan` (step 4 of the reference §4, MicroSIP's `FormatNumber`).
//!
//! MicroSIP turns each `|`-separated alternative into a pattern for ATL's `CAtlRegExp`:
//! * the whole plan is first trimmed of spaces and parentheses at both ends;
//! * `<text>` is copied into the pattern as is (it has to match);
//! * `<match:replace>` becomes a capture group `{match}` whose matched text is replaced by
//!   `replace` (`<:9>` inserts a 9, `<0:+49>` turns a leading 0 into +49);
//! * then every `.` becomes `*` ("repeat the previous item"), every `x`/`X` becomes `.` ("any
//!   character"), and the pattern is anchored as `^…$`. Matching is case-sensitive.
//!
//! The first alternative that matches the whole number wins. If none matches, the call fails.
//!
//! The ATL pattern is then translated into the `regex` crate's syntax by a small parser that
//! follows ATL's grammar: `{}` capture groups, `()` groups, `[]`/`[^]` classes with ranges,
//! `*`, `+`, `?` and their lazy forms, `\d`-style abbreviations (`\a \b \c \d \h \n \q \w \z`),
//! `\` escapes; `*`, `+`, `?` where no item precedes them and `^`/`$` inside the pattern are
//! literal characters, as in ATL. Not supported (the alternative is skipped with a warning):
//! back-references `\1` and the `!` operator. An alternative ATL cannot parse (e.g. an
//! unclosed `(` or `[`) is skipped, as MicroSIP does. An unmatched `)`, `]` or `}` makes ATL
//! silently ignore the rest of the alternative *including the end anchor*, so it then matches
//! any number that merely starts right; this is reproduced, with a warning. (A plan written as
//! `(1xx)|(2xx)` hits this: after trimming it reads `1xx)|(2xx`.) Positions are counted in
//! characters where ATL counts UTF-16 units; that only differs outside the BMP.

use regex::Regex;

use super::DialError;

/// Applies `plan` to `number` like MicroSIP: the number rewritten by the first matching
/// alternative, or [`DialError::NoDialPlanMatch`]. An empty `plan` is not a plan: the caller
/// skips this step then (a plan of only spaces and parentheses matches nothing, as in
/// MicroSIP). Alternatives that are skipped or truncated are logged as warnings.
pub fn apply_dial_plan(number: &str, plan: &str) -> Result<String, DialError> {
    for alternative in alternatives(plan) {
        let compiled = match alternative.compile() {
            Ok(compiled) => compiled,
            Err(reason) => {
                log::warn!("{}", alternative.problem(&reason));
                continue;
            }
        };
        if let Some(stop) = compiled.stopped_at {
            log::warn!("{}", alternative.truncated(stop));
        }
        if let Some(rewritten) = compiled.rewrite(number, &alternative.replaces) {
            return Ok(rewritten);
        }
    }
    Err(DialError::NoDialPlanMatch {
        number: number.to_string(),
        plan: plan.to_string(),
    })
}

/// Problems in a dial plan, one sentence each, for warnings when the settings are loaded:
/// alternatives that are skipped and alternatives that lose their end anchor.
pub fn check_dial_plan(plan: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for alternative in alternatives(plan) {
        match alternative.compile() {
            Err(reason) => problems.push(alternative.problem(&reason)),
            Ok(Compiled {
                stopped_at: Some(stop),
                ..
            }) => problems.push(alternative.truncated(stop)),
            Ok(_) => {}
        }
    }
    if problems.is_empty() && alternatives(plan).is_empty() {
        problems.push(format!(
            "dialPlan {plan:?} has no alternatives, so every call fails: clear it or add one"
        ));
    }
    problems
}

/// One `|`-separated part of a plan, turned into an ATL pattern as MicroSIP does.
#[derive(Debug)]
struct Alternative {
    /// The text as written in the plan.
    text: String,
    /// The ATL pattern, `^…$`.
    pattern: String,
    /// The replacement for each capture group, in order.
    replaces: Vec<String>,
}

fn alternatives(plan: &str) -> Vec<Alternative> {
    plan.trim_matches([' ', '(', ')'])
        .split('|')
        .filter(|text| !text.is_empty())
        .map(Alternative::new)
        .collect()
}

impl Alternative {
    fn new(text: &str) -> Self {
        let mut body = String::new();
        let mut group = String::new();
        let mut replaces = Vec::new();
        let mut in_group = false;
        for c in text.chars() {
            if !in_group && c == '<' {
                in_group = true;
            } else if in_group && c != '>' {
                group.push(c);
            } else if in_group {
                match group.split_once(':') {
                    _ if group.is_empty() => {}
                    None => body.push_str(&group),
                    Some((matched, replace)) => {
                        body.push('{');
                        body.push_str(matched);
                        body.push('}');
                        replaces.push(replace.to_string());
                    }
                }
                group.clear();
                in_group = false;
            } else {
                body.push(c);
            }
        }
        let body = body.replace('.', "*").replace(['x', 'X'], ".");
        Alternative {
            text: text.to_string(),
            pattern: format!("^{body}$"),
            replaces,
        }
    }

    fn compile(&self) -> Result<Compiled, String> {
        let translation = translate(&self.pattern)?;
        let regex = Regex::new(&translation.regex).map_err(|e| e.to_string())?;
        Ok(Compiled {
            regex,
            end_anchored: translation.end_anchored,
            stopped_at: translation.stopped_at,
        })
    }

    fn problem(&self, reason: &str) -> String {
        format!(
            "dialPlan alternative {:?} is skipped ({reason}), as MicroSIP skips it; fix or remove it",
            self.text
        )
    }

    fn truncated(&self, stop: char) -> String {
        format!(
            "dialPlan alternative {:?} has an unmatched `{stop}`: like MicroSIP we ignore the rest \
             of it from there, end anchor included, so it matches any number that starts right; \
             balance or remove the `{stop}`",
            self.text
        )
    }
}

/// A translated alternative ready to match.
struct Compiled {
    regex: Regex,
    /// ATL's `$` was reached: the match must end at the end of the number.
    end_anchored: bool,
    /// The unmatched closer at which ATL stopped parsing, if any.
    stopped_at: Option<char>,
}

impl Compiled {
    /// The rewritten number if it matches, computed with MicroSIP's arithmetic: text between
    /// groups is kept, each group is replaced, and the tail is `Right(matchEnd - prev - 1)`,
    /// where ATL's `matchEnd` lies one past the terminating NUL when `$` matched.
    fn rewrite(&self, number: &str, replaces: &[String]) -> Option<String> {
        let captures = self.regex.captures(number)?;
        if replaces.is_empty() {
            return Some(number.to_string());
        }
        let chars: Vec<char> = number.chars().collect();
        let position = |byte: usize| number[..byte].chars().count();
        let whole = captures.get(0)?;
        let match_end = if self.end_anchored {
            chars.len() + 1
        } else {
            position(whole.end())
        };
        let mut rewritten = String::new();
        let mut previous = position(whole.start());
        for (index, replace) in replaces.iter().enumerate() {
            // A group that took no part in the match counts as empty at the current place.
            let (start, end) = captures.get(index + 1).map_or((previous, previous), |m| {
                (position(m.start()), position(m.end()))
            });
            if start > previous {
                rewritten.extend(&chars[previous..start]);
            }
            rewritten.push_str(replace);
            previous = end;
        }
        let tail = match_end.saturating_sub(previous + 1).min(chars.len());
        rewritten.extend(&chars[chars.len() - tail..]);
        Some(rewritten)
    }
}

/// An ATL pattern in `regex` syntax.
#[derive(Debug, PartialEq)]
struct Translation {
    regex: String,
    end_anchored: bool,
    stopped_at: Option<char>,
}

/// Translates an ATL pattern that starts with `^` (as MicroSIP's always do).
fn translate(pattern: &str) -> Result<Translation, String> {
    let mut parser = AtlParser {
        chars: pattern.chars().collect(),
        pos: 0,
        end_anchored: false,
    };
    let start_anchored = parser.eat('^');
    let body = parser.sequence()?;
    Ok(Translation {
        regex: format!("(?s){}{body}", if start_anchored { r"\A" } else { "" }),
        end_anchored: parser.end_anchored,
        stopped_at: parser.peek(),
    })
}

/// A recursive-descent parser following `CAtlRegExp::ParseRE`/`ParseE`/`ParseSE`.
struct AtlParser {
    chars: Vec<char>,
    pos: usize,
    end_anchored: bool,
}

impl AtlParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    /// `ParseRE`: items until the end or a closer, which is left in place.
    fn sequence(&mut self) -> Result<String, String> {
        let mut out = String::new();
        while let Some(item) = self.item()? {
            out.push_str(&item);
        }
        Ok(out)
    }

    /// `ParseE`: a simple expression with an optional repeat operator.
    fn item(&mut self) -> Result<Option<String>, String> {
        let Some(atom) = self.atom()? else {
            return Ok(None);
        };
        let op = if self.eat('*') {
            "*"
        } else if self.eat('+') {
            "+"
        } else if self.eat('?') {
            "?"
        } else {
            return Ok(Some(atom));
        };
        let lazy = if self.eat('?') { "?" } else { "" };
        Ok(Some(format!("(?:{atom}){op}{lazy}")))
    }

    /// `ParseSE`: one simple expression, or `None` at the end or at a closer.
    fn atom(&mut self) -> Result<Option<String>, String> {
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        if matches!(c, '}' | ']' | ')') {
            return Ok(None);
        }
        self.pos += 1;
        let atom = match c {
            '{' => format!(
                "({})",
                self.group('}', "a `{` (from `<match:replace>`) is not closed")?
            ),
            '(' => format!("(?:{})", self.group(')', "a `(` is not closed with `)`")?),
            '[' => self.class()?,
            '\\' => self.escape()?,
            '!' => return Err("the `!` operator is not supported".into()),
            '.' => ".".into(),
            '$' if self.pos == self.chars.len() => {
                self.end_anchored = true;
                r"\z".into()
            }
            other => literal(other),
        };
        Ok(Some(atom))
    }

    fn group(&mut self, close: char, unclosed: &str) -> Result<String, String> {
        let inner = self.sequence()?;
        if self.eat(close) {
            Ok(inner)
        } else {
            Err(unclosed.to_string())
        }
    }

    /// After `\`: an abbreviation, a back-reference (unsupported) or an escaped character.
    fn escape(&mut self) -> Result<String, String> {
        let Some(c) = self.peek() else {
            return Err("the alternative ends with `\\`".into());
        };
        if c.is_ascii_digit() {
            return Err("back-references like `\\1` are not supported".into());
        }
        self.pos += 1;
        let abbreviation = match c {
            'a' => "[a-zA-Z0-9]",
            'b' => "[ \t]",
            'c' => "[a-zA-Z]",
            'd' => "[0-9]",
            'h' => "[0-9a-fA-F]",
            'n' => "(?:\r|\r?\n)",
            // ATL parses only the first half of its `q` expansion.
            'q' => "(?:\"[^\"]*\")",
            'w' => "(?:[a-zA-Z]+)",
            'z' => "(?:[0-9]+)",
            other => return Ok(literal(other)),
        };
        Ok(abbreviation.to_string())
    }

    /// After `[`: `ParseCharClass`.
    fn class(&mut self) -> Result<String, String> {
        const UNCLOSED: &str = "a `[` is not closed with `]`";
        if self.eat(']') {
            return Err("an empty `[]`".into());
        }
        let negate = self.eat('^');
        if self.eat(']') {
            return Err("an empty `[^]`".into());
        }
        let mut items = String::new();
        loop {
            let start = match self.peek() {
                None => return Err(UNCLOSED.into()),
                Some(']') => break,
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(UNCLOSED.into()),
                        Some('t') => '\t',
                        Some(other) => other,
                    }
                }
                Some(other) => other,
            };
            self.pos += 1;
            items.push_str(&literal(start));
            if self.eat('-') {
                let end = match self.peek() {
                    None | Some(']') => return Err("a range in `[…]` has no end".into()),
                    Some(end) => end,
                };
                self.pos += 1;
                if end < start {
                    return Err(format!("the range `{start}-{end}` is backwards"));
                }
                items.push('-');
                items.push_str(&literal(end));
            }
        }
        self.pos += 1;
        Ok(format!("[{}{items}]", if negate { "^" } else { "" }))
    }
}

fn literal(c: char) -> String {
    regex::escape(c.encode_utf8(&mut [0; 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(number: &str, plan: &str) -> Option<String> {
        apply_dial_plan(number, plan).ok()
    }

    #[test]
    fn x_is_any_character_and_the_match_is_anchored() {
        assert_eq!(apply("123", "xxx").as_deref(), Some("123"));
        assert_eq!(apply("1234", "xxx"), None, "anchored at the end");
        assert_eq!(apply("12", "xxx"), None);
        assert_eq!(apply("abc", "XXX").as_deref(), Some("abc"));
        assert_eq!(apply("9123", "9xxx").as_deref(), Some("9123"));
        assert_eq!(apply("8123", "9xxx"), None);
    }

    #[test]
    fn dot_repeats_the_previous_item() {
        assert_eq!(
            apply("1", "1x.").as_deref(),
            Some("1"),
            "x. is zero or more"
        );
        assert_eq!(apply("1234567", "1x.").as_deref(), Some("1234567"));
        assert_eq!(apply("0007", "0.7").as_deref(), Some("0007"));
        assert_eq!(apply("7", "0.7").as_deref(), Some("7"));
        assert_eq!(apply("", "x."), Some(String::new()));
        // `..` is `**`: the second `*` has nothing to repeat and is a literal `*` in ATL.
        assert_eq!(apply("12*", "1x..").as_deref(), Some("12*"));
        assert_eq!(apply("12", "1x.."), None);
    }

    #[test]
    fn alternatives_first_match_wins() {
        let plan = "<:9>xxxxxxx|<:0>xxxxxxxxxx|xxxx";
        assert_eq!(apply("5551234", plan).as_deref(), Some("95551234"));
        assert_eq!(apply("2125551234", plan).as_deref(), Some("02125551234"));
        assert_eq!(apply("2000", plan).as_deref(), Some("2000"));
        assert_eq!(apply("12", plan), None);
        assert_eq!(apply("100", "1xx|<:7>1xx").as_deref(), Some("100"));
    }

    #[test]
    fn outer_spaces_and_parentheses_are_trimmed_and_empty_parts_skipped() {
        assert_eq!(apply("123", " (xxx) ").as_deref(), Some("123"));
        assert_eq!(apply("123", "((||xxx||))").as_deref(), Some("123"));
        assert_eq!(apply("123", "()"), None, "no alternatives: nothing matches");
    }

    #[test]
    fn match_replace_groups() {
        assert_eq!(
            apply("01701234567", "<0:+49>xxxxxxxxxx").as_deref(),
            Some("+491701234567")
        );
        assert_eq!(
            apply("0049301234", "<00:+>xxxxxxxx").as_deref(),
            Some("+49301234")
        );
        // A group in the middle and one at the end.
        assert_eq!(apply("12345", "1<23:x>4<5:>").as_deref(), Some("1x4"));
        // An empty match inserts; an empty replacement deletes.
        assert_eq!(apply("55", "xx<:#>").as_deref(), Some("55#"));
        assert_eq!(apply("*55", "<*:>xx").as_deref(), Some("55"));
    }

    #[test]
    fn literal_insert_is_part_of_the_pattern() {
        // `<text>` without `:` has to match; it is not inserted into the number.
        assert_eq!(apply("9123", "<9>xxx").as_deref(), Some("9123"));
        assert_eq!(apply("123", "<9>xxx"), None);
        // x inside <> is still "any character" (replaced after the groups are built).
        assert_eq!(apply("5123", "<x>xxx").as_deref(), Some("5123"));
        // An unclosed `<` swallows the rest of the alternative.
        assert_eq!(apply("12", "12<34").as_deref(), Some("12"));
    }

    #[test]
    fn atl_syntax_passes_through() {
        assert_eq!(apply("123", "[0-9][0-9][0-9]").as_deref(), Some("123"));
        assert_eq!(apply("a23", "[^a]xx"), None);
        assert_eq!(apply("b23", "[^a]xx").as_deref(), Some("b23"));
        assert_eq!(apply("112", "1+2").as_deref(), Some("112"));
        assert_eq!(apply("2", "1?2").as_deref(), Some("2"));
        assert_eq!(apply("007", "\\d\\d\\d").as_deref(), Some("007"));
        assert_eq!(apply("4711", "\\z").as_deref(), Some("4711"));
        // `.` became `*` before ATL sees it, so `\.` is a literal `*`, never a dot.
        assert_eq!(apply("1*2", "1\\.2").as_deref(), Some("1*2"));
        assert_eq!(apply("1.2", "1\\.2"), None);
        assert_eq!(apply("ab", "(ab)").as_deref(), Some("ab"));
        assert_eq!(apply("*21*", "\\*21\\*").as_deref(), Some("*21*"));
        assert_eq!(
            apply("+1", "+1").as_deref(),
            Some("+1"),
            "leading + is a literal"
        );
        assert_eq!(
            apply("1$", "1$").as_deref(),
            Some("1$"),
            "inner $ is a literal"
        );
        assert_eq!(
            apply("^1", "^1").as_deref(),
            Some("^1"),
            "inner ^ is a literal"
        );
        assert_eq!(
            apply("1x", "1[x]"),
            None,
            "x in a class means `.`, a literal dot"
        );
        assert_eq!(apply("1.", "1[x]").as_deref(), Some("1."));
    }

    #[test]
    fn case_sensitive() {
        assert_eq!(apply("ab", "ab").as_deref(), Some("ab"));
        assert_eq!(apply("AB", "ab"), None);
    }

    #[test]
    fn invalid_alternatives_are_skipped() {
        assert_eq!(apply("123", "1(2|xxx").as_deref(), Some("123"));
        assert_eq!(apply("123", "1[2|xxx").as_deref(), Some("123"));
        assert_eq!(apply("123", "1{2|xxx").as_deref(), Some("123"));
        assert_eq!(
            apply("11", "1(1)\\1|xx").as_deref(),
            Some("11"),
            "back-reference"
        );
        assert_eq!(apply("11", "!2x|xx").as_deref(), Some("11"), "not operator");
        assert_eq!(apply("11", "[]|xx").as_deref(), Some("11"));
        assert_eq!(apply("11", "[9-1]|xx").as_deref(), Some("11"));
    }

    #[test]
    fn unmatched_closer_truncates_like_atl() {
        // `(1xx)|(2xx)` is trimmed to `1xx)|(2xx`: the first part matches any number that
        // starts with 1 and has 3 or more characters; the second never parses.
        let plan = "(1xx)|(2xx)";
        assert_eq!(apply("100", plan).as_deref(), Some("100"));
        assert_eq!(apply("1234567", plan).as_deref(), Some("1234567"));
        assert_eq!(apply("10", plan), None);
        assert_eq!(apply("200", plan), None);
        // With a replacement ATL's tail arithmetic keeps `matchEnd - prev - 1` characters.
        // `<0:9>xx)x` reads `^{0}..` for ATL: match "012", group "0", tail 3 - 1 - 1 = 1.
        assert_eq!(apply("0123456", "<0:9>xx)x").as_deref(), Some("96"));
    }

    #[test]
    fn check_reports_problems() {
        assert!(check_dial_plan("xxx|<0:+49>x.").is_empty());
        let problems = check_dial_plan("(1xx)|(2xx)");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("unmatched `)`"), "{}", problems[0]);
        assert!(problems[1].contains("not closed"), "{}", problems[1]);
        assert_eq!(check_dial_plan(" () ").len(), 1);
    }

    #[test]
    fn translation_examples() {
        let t = translate("^{0}..$").unwrap();
        assert_eq!(t.regex, r"(?s)\A(0)..\z");
        assert!(t.end_anchored);
        assert_eq!(t.stopped_at, None);
        let t = translate("^1)2$").unwrap();
        assert_eq!(t.regex, r"(?s)\A1");
        assert!(!t.end_anchored);
        assert_eq!(t.stopped_at, Some(')'));
        assert_eq!(translate("^a*?b$").unwrap().regex, r"(?s)\A(?:a)*?b\z");
        assert_eq!(translate("^[a\\]-c]$").unwrap().regex, r"(?s)\A[a\]-c]\z");
        assert_eq!(translate("^[\\t]$").unwrap().regex, "(?s)\\A[\t]\\z");
    }

    #[test]
    fn no_match_error_names_number_and_plan() {
        let err = apply_dial_plan("12", "xxx").unwrap_err();
        assert_eq!(
            err,
            DialError::NoDialPlanMatch {
                number: "12".into(),
                plan: "xxx".into()
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("\"12\"") && text.contains("\"xxx\""),
            "{text}"
        );
    }
}
