//! A line-oriented model of an ini file that can be written back byte for byte.
//!
//! Why not `rust-ini` alone: it parses into a map and serialises from that map, so comments,
//! blank lines, key spelling, duplicate keys, quoting, the BOM, the UTF-16 encoding and the
//! line endings of the original are lost on write-back, and it does not report line numbers.
//! MicroSIP.ini is also shared with MicroSIP itself, which must keep reading what we write.
//! So each line is kept verbatim (its original bytes, with its line ending) and only classified
//! (blank, comment, `[section]`, `key=value`, other); edited lines are re-encoded in the file's
//! own encoding. Lookups follow Win32 `GetPrivateProfileString`: section and key names are
//! case-insensitive, the first `[section]` of a name and the first key in it win, whitespace
//! around names and values is trimmed, and one pair of outer quotes is removed from values.

use std::collections::HashMap;

use encoding_rs::{UTF_16LE, WINDOWS_1252};

/// The text encoding of an ini file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileEncoding {
    /// UTF-16 little endian, MicroSIP's own format (always written with a BOM).
    Utf16Le,
    /// UTF-8, with or without BOM (a BOM-less file counts as UTF-8 only if it has non-ASCII text
    /// that is valid UTF-8).
    Utf8,
    /// The ANSI code page (Windows-1252): a BOM-less file that is plain ASCII or not valid
    /// UTF-8. This is how MicroSIP itself reads a file without BOM.
    Ansi,
}

/// A line ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eol {
    CrLf,
    Lf,
    /// The last line of a file that does not end with a newline.
    None,
}

impl Eol {
    fn as_str(self) -> &'static str {
        match self {
            Eol::CrLf => "\r\n",
            Eol::Lf => "\n",
            Eol::None => "",
        }
    }
}

/// What a line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineKind {
    Blank,
    /// `; comment` (Win32) or `# comment` (nothing reads it either way).
    Comment,
    /// `[name]`, name trimmed.
    Section(String),
    /// `key=value`: key and value trimmed, quotes not yet removed. `value_start` is the byte
    /// offset in the line text where the value's replacement starts (after `=` and blanks).
    Entry {
        key: String,
        value: String,
        value_start: usize,
    },
    /// Anything else (no `=`, empty key, `[` without `]`): Win32 ignores it.
    Other,
}

/// One line of the file.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    /// Decoded text without the line ending.
    pub text: String,
    pub eol: Eol,
    pub kind: LineKind,
    /// The original bytes (line ending included) while the line is unchanged.
    raw: Option<Vec<u8>>,
}

impl Line {
    fn new(text: String, eol: Eol) -> Line {
        let kind = classify(&text);
        Line {
            text,
            eol,
            kind,
            raw: None,
        }
    }
}

/// An ini file as a list of lines.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub encoding: FileEncoding,
    pub has_bom: bool,
    pub lines: Vec<Line>,
}

/// Why bytes cannot be an ini file.
pub(crate) type NotText = String;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";

/// The whitespace Win32 trims around names and values.
pub(crate) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

pub(crate) fn trim_blank(s: &str) -> &str {
    s.trim_matches(is_blank)
}

/// Removes one pair of matching outer quotes (`"…"` or `'…'`), as `GetPrivateProfileString`
/// does.
pub(crate) fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn classify(text: &str) -> LineKind {
    let t = trim_blank(text);
    if t.is_empty() {
        return LineKind::Blank;
    }
    if t.starts_with(';') || t.starts_with('#') {
        return LineKind::Comment;
    }
    if let Some(inner) = t.strip_prefix('[') {
        return match inner.rfind(']') {
            Some(end) => LineKind::Section(trim_blank(&inner[..end]).to_string()),
            None => LineKind::Other,
        };
    }
    let Some(eq) = text.find('=') else {
        return LineKind::Other;
    };
    let key = trim_blank(&text[..eq]);
    if key.is_empty() {
        return LineKind::Other;
    }
    let after = &text[eq + 1..];
    let value_start = eq + 1 + (after.len() - after.trim_start_matches(is_blank).len());
    LineKind::Entry {
        key: key.to_string(),
        value: trim_blank(after).to_string(),
        value_start,
    }
}

/// Splits `content` into lines, each keeping its `\n` (a code unit of `unit` bytes).
fn split_raw_lines(content: &[u8], unit: usize) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + unit <= content.len() {
        let is_lf = content[i] == b'\n' && content[i + 1..i + unit].iter().all(|&b| b == 0);
        i += unit;
        if is_lf {
            lines.push(&content[start..i]);
            start = i;
        }
    }
    if start < content.len() {
        lines.push(&content[start..]);
    }
    lines
}

fn split_eol(mut text: String) -> (String, Eol) {
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
        (text, Eol::CrLf)
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
        (text, Eol::Lf)
    } else {
        (text, Eol::None)
    }
}

/// Guesses why a BOM-less file with NUL bytes is not text.
fn nul_reason(bytes: &[u8]) -> NotText {
    if bytes.starts_with(b"\xFE\xFF") {
        return "it is UTF-16 big-endian, which is not supported; save it as UTF-16LE (MicroSIP's \
                format) or UTF-8"
            .into();
    }
    let pairs = bytes.len() / 2;
    let odd_nuls = bytes
        .chunks_exact(2)
        .filter(|p| p[1] == 0 && p[0] != 0)
        .count();
    if pairs > 0 && odd_nuls * 10 >= pairs * 9 {
        return "it looks like UTF-16 without a byte-order mark; save it as UTF-16LE with BOM \
                (MicroSIP's format) or UTF-8"
            .into();
    }
    let at = bytes.iter().position(|&b| b == 0).unwrap_or(0);
    format!("it contains NUL bytes (first at byte offset {at}), so it is binary data, not text")
}

impl Document {
    /// Detects the encoding, decodes and splits the file into classified lines. Fails only on
    /// bytes that cannot be text (NUL characters); whether the text is an ini is checked by the
    /// caller.
    pub fn parse(bytes: &[u8]) -> Result<Document, NotText> {
        let (encoding, has_bom, content) = if let Some(rest) = bytes.strip_prefix(UTF16LE_BOM) {
            (FileEncoding::Utf16Le, true, rest)
        } else if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
            (FileEncoding::Utf8, true, rest)
        } else if bytes.is_empty() {
            // MicroSIP creates a missing or empty ini as UTF-16LE; so do we on first write.
            (FileEncoding::Utf16Le, false, bytes)
        } else if bytes.contains(&0) {
            return Err(nul_reason(bytes));
        } else if bytes.is_ascii() || std::str::from_utf8(bytes).is_err() {
            (FileEncoding::Ansi, false, bytes)
        } else {
            (FileEncoding::Utf8, false, bytes)
        };
        if encoding != FileEncoding::Utf16Le && content.contains(&0) {
            return Err(nul_reason(content));
        }
        let unit = if encoding == FileEncoding::Utf16Le {
            2
        } else {
            1
        };
        let mut lines = Vec::new();
        for (index, raw) in split_raw_lines(content, unit).into_iter().enumerate() {
            let decoded = match encoding {
                FileEncoding::Utf16Le => UTF_16LE.decode_without_bom_handling(raw).0,
                FileEncoding::Utf8 => String::from_utf8_lossy(raw),
                FileEncoding::Ansi => WINDOWS_1252.decode_without_bom_handling(raw).0,
            };
            if decoded.contains('\0') {
                return Err(format!(
                    "line {} contains a NUL character, so it is binary data, not text",
                    index + 1
                ));
            }
            let (text, eol) = split_eol(decoded.into_owned());
            // Text has no control characters but tabs (and a stray CR): binary data does,
            // even without a NUL byte.
            if let Some(c) = text
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\r'))
            {
                return Err(format!(
                    "line {} contains the control character U+{:04X}, so it is binary data, not \
                     text",
                    index + 1,
                    c as u32
                ));
            }
            let mut line = Line::new(text, eol);
            line.raw = Some(raw.to_vec());
            lines.push(line);
        }
        Ok(Document {
            encoding,
            has_bom,
            lines,
        })
    }

    /// The file's bytes: unchanged lines exactly as read, changed ones re-encoded.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.has_bom {
            out.extend_from_slice(match self.encoding {
                FileEncoding::Utf16Le => UTF16LE_BOM,
                _ => UTF8_BOM,
            });
        }
        for line in &self.lines {
            match &line.raw {
                Some(raw) => out.extend_from_slice(raw),
                None => {
                    out.extend(self.encode(&line.text));
                    out.extend(self.encode(line.eol.as_str()));
                }
            }
        }
        out
    }

    fn encode(&self, text: &str) -> Vec<u8> {
        match self.encoding {
            FileEncoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            FileEncoding::Utf8 => text.as_bytes().to_vec(),
            FileEncoding::Ansi => WINDOWS_1252.encode(text).0.into_owned(),
        }
    }

    /// The line ending used for new lines: the file's first one, else CRLF as on Windows.
    fn default_eol(&self) -> Eol {
        self.lines
            .iter()
            .map(|l| l.eol)
            .find(|&e| e != Eol::None)
            .unwrap_or(Eol::CrLf)
    }

    /// Makes sure `text` can be stored: an ANSI file that cannot hold it is converted to
    /// UTF-16LE with BOM (what MicroSIP itself converts every BOM-less file to), and an empty
    /// file becomes UTF-16LE with BOM.
    fn prepare_for(&mut self, text: &str) {
        if self.encoding == FileEncoding::Utf16Le && !self.has_bom {
            self.has_bom = true;
        }
        if self.encoding == FileEncoding::Ansi && WINDOWS_1252.encode(text).2 {
            log::warn!(
                "a new value cannot be written in the file's ANSI (Windows-1252) encoding; \
                 converting the file to UTF-16LE, MicroSIP's own format"
            );
            self.convert_to_utf16();
        }
    }

    /// Converts an ANSI file to UTF-16LE with BOM when an edit made its bytes valid non-ASCII
    /// UTF-8 (e.g. by removing the only byte that was not): read back, it would otherwise be
    /// taken for UTF-8 and its other non-ASCII text would change meaning.
    fn keep_encoding_detectable(&mut self) {
        if self.encoding != FileEncoding::Ansi {
            return;
        }
        let bytes = self.to_bytes();
        if !bytes.is_ascii() && std::str::from_utf8(&bytes).is_ok() {
            self.convert_to_utf16();
        }
    }

    /// Re-encodes every line as UTF-16LE with BOM, MicroSIP's own format.
    fn convert_to_utf16(&mut self) {
        self.encoding = FileEncoding::Utf16Le;
        self.has_bom = true;
        for line in &mut self.lines {
            line.raw = None;
        }
    }

    /// Gives line `index` a line ending if it has none (a new line follows it).
    fn terminate(&mut self, index: usize) {
        let eol = self.default_eol();
        let line = &mut self.lines[index];
        if line.eol == Eol::None {
            // Re-encoded from its text: its raw bytes may end in half a UTF-16 code unit.
            *line = Line::new(std::mem::take(&mut line.text), eol);
        }
    }

    fn insert_line(&mut self, at: usize, text: String) {
        if at > 0 {
            self.terminate(at - 1);
        }
        let line = Line::new(text, self.default_eol());
        self.lines.insert(at, line);
    }

    /// Builds the lookup index.
    pub fn index(&self) -> Index {
        Index::build(self)
    }

    /// Sets `key` in the first `[section]`: the first occurrence is rewritten in place (its
    /// spelling and the text before the value kept), else a line is added after the section's
    /// last entry, else the section is appended to the file.
    pub fn set(&mut self, section: &str, key: &str, value: &str) {
        let value = quote_if_needed(value);
        self.prepare_for(key);
        self.prepare_for(&value);
        let index = self.index();
        match index.section(section) {
            Some(sec) => match sec.entry(key) {
                Some(at) => {
                    let line = &mut self.lines[at];
                    if let LineKind::Entry { value_start, .. } = line.kind {
                        let text = format!("{}{}", &line.text[..value_start], value);
                        *line = Line::new(text, line.eol);
                    }
                }
                None => {
                    let at = sec.last_entry.unwrap_or(sec.header) + 1;
                    self.insert_line(at, format!("{key}={value}"));
                }
            },
            None => {
                self.prepare_for(section);
                let at = self.lines.len();
                self.insert_line(at, format!("[{section}]"));
                self.insert_line(at + 1, format!("{key}={value}"));
            }
        }
        self.keep_encoding_detectable();
    }

    /// Removes every `key` line from the first `[section]`.
    pub fn remove(&mut self, section: &str, key: &str) {
        let index = self.index();
        let Some(sec) = index.section(section) else {
            return;
        };
        let wanted = fold(key);
        let range = sec.header + 1..sec.end;
        let mut at = range.start;
        let mut end = range.end;
        while at < end {
            let matches =
                matches!(&self.lines[at].kind, LineKind::Entry { key, .. } if fold(key) == wanted);
            if matches {
                self.lines.remove(at);
                end -= 1;
            } else {
                at += 1;
            }
        }
        self.keep_encoding_detectable();
    }
}

/// Wraps a value in double quotes when reading it back would otherwise change it (outer
/// blanks would be trimmed, outer quotes removed). Line breaks and NULs cannot be stored and
/// are dropped.
fn quote_if_needed(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect();
    if trim_blank(&clean) != clean || unquote(&clean) != clean {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// Case folding for section and key names.
pub(crate) fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// A section as the index sees it.
#[derive(Debug)]
pub(crate) struct SectionInfo {
    /// The name as written in the first header.
    pub name: String,
    /// Line index of the header.
    pub header: usize,
    /// Line index after the section's last line.
    pub end: usize,
    /// Line index of the last `key=value` line.
    pub last_entry: Option<usize>,
    /// First occurrence of each (folded) key: line index.
    entries: HashMap<String, usize>,
    /// Line indexes of all entries, in file order.
    pub entry_lines: Vec<usize>,
}

impl SectionInfo {
    /// Line index of the first `key` line.
    pub fn entry(&self, key: &str) -> Option<usize> {
        self.entries.get(&fold(key)).copied()
    }
}

/// Sections by folded name (first occurrence only, as Win32 reads), plus what Win32 ignores.
#[derive(Debug, Default)]
pub(crate) struct Index {
    sections: HashMap<String, SectionInfo>,
    /// First occurrences of sections, in file order (folded names).
    pub order: Vec<String>,
    /// Headers of repeated sections: (line index, index of the first header).
    pub repeated_sections: Vec<(usize, usize)>,
    /// Repeated keys inside first sections: (line index, line index of the first one).
    pub repeated_keys: Vec<(usize, usize)>,
    /// Entries before any section header.
    pub orphans: Vec<usize>,
    /// Lines of kind `Other`.
    pub others: Vec<usize>,
}

impl Index {
    fn build(doc: &Document) -> Index {
        let mut index = Index::default();
        // The folded name of the section the current line belongs to, if it is a first one.
        let mut current: Option<String> = None;
        let mut in_section = false;
        for (at, line) in doc.lines.iter().enumerate() {
            match &line.kind {
                LineKind::Section(name) => {
                    in_section = true;
                    if let Some(open) = current.take() {
                        index.sections.get_mut(&open).expect("open section").end = at;
                    }
                    let folded = fold(name);
                    if let Some(first) = index.sections.get(&folded) {
                        index.repeated_sections.push((at, first.header));
                    } else {
                        index.sections.insert(
                            folded.clone(),
                            SectionInfo {
                                name: name.clone(),
                                header: at,
                                end: doc.lines.len(),
                                last_entry: None,
                                entries: HashMap::new(),
                                entry_lines: Vec::new(),
                            },
                        );
                        index.order.push(folded.clone());
                        current = Some(folded);
                    }
                }
                LineKind::Entry { key, .. } => {
                    if !in_section {
                        index.orphans.push(at);
                    } else if let Some(open) = &current {
                        let sec = index.sections.get_mut(open).expect("open section");
                        sec.last_entry = Some(at);
                        sec.entry_lines.push(at);
                        let folded = fold(key);
                        match sec.entries.get(&folded) {
                            Some(&first) => index.repeated_keys.push((at, first)),
                            None => {
                                sec.entries.insert(folded, at);
                            }
                        }
                    }
                }
                LineKind::Other => index.others.push(at),
                LineKind::Blank | LineKind::Comment => {}
            }
        }
        index
    }

    /// The first section with this name (case-insensitive).
    pub fn section(&self, name: &str) -> Option<&SectionInfo> {
        self.sections.get(&fold(name))
    }

    /// First occurrences of all sections, in file order.
    pub fn sections(&self) -> impl Iterator<Item = &SectionInfo> {
        self.order.iter().map(|name| &self.sections[name])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        let mut v = UTF16LE_BOM.to_vec();
        v.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        v
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(classify("  "), LineKind::Blank);
        assert_eq!(classify(" ; x=1"), LineKind::Comment);
        assert_eq!(classify("# x=1"), LineKind::Comment);
        assert_eq!(
            classify(" [ Settings ] trailing"),
            LineKind::Section("Settings".into())
        );
        assert_eq!(classify("[Settings"), LineKind::Other);
        assert_eq!(classify("no equals sign"), LineKind::Other);
        assert_eq!(classify(" = value"), LineKind::Other);
        assert_eq!(
            classify(" key \t=  a = b  "),
            LineKind::Entry {
                key: "key".into(),
                value: "a = b".into(),
                value_start: 9
            }
        );
    }

    #[test]
    fn unquotes_one_pair() {
        assert_eq!(unquote("\"a b\""), "a b");
        assert_eq!(unquote("'a'"), "a");
        assert_eq!(unquote("\"a'"), "\"a'");
        assert_eq!(unquote("\""), "\"");
        assert_eq!(unquote("\"\"x\"\""), "\"x\"");
    }

    #[test]
    fn detects_encodings() {
        let d = Document::parse(&utf16("[S]\r\na=1\r\n")).unwrap();
        assert_eq!((d.encoding, d.has_bom), (FileEncoding::Utf16Le, true));
        let d = Document::parse(b"\xEF\xBB\xBF[S]\na=\xC3\xBC\n").unwrap();
        assert_eq!((d.encoding, d.has_bom), (FileEncoding::Utf8, true));
        let d = Document::parse("[S]\na=ü\n".as_bytes()).unwrap();
        assert_eq!((d.encoding, d.has_bom), (FileEncoding::Utf8, false));
        let d = Document::parse(b"[S]\na=\xFC\n").unwrap();
        assert_eq!((d.encoding, d.has_bom), (FileEncoding::Ansi, false));
        assert_eq!(d.lines[1].text, "a=ü");
        let d = Document::parse(b"[S]\n").unwrap();
        assert_eq!(d.encoding, FileEncoding::Ansi);
    }

    #[test]
    fn rejects_nul_bytes_with_a_reason() {
        assert!(Document::parse(b"[S]\na=\0\n").unwrap_err().contains("NUL"));
        let no_bom: Vec<u8> = "[Settings]\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(Document::parse(&no_bom)
            .unwrap_err()
            .contains("without a byte-order mark"));
        let be: Vec<u8> = b"\xFE\xFF\0[\0S\0]".to_vec();
        assert!(Document::parse(&be).unwrap_err().contains("big-endian"));
    }

    #[test]
    fn keeps_bytes_of_odd_files() {
        for bytes in [
            &b""[..],
            b"\xFF\xFE",
            b"\xFF\xFE[\x00",
            b"\xEF\xBB\xBF",
            b"a\r\r\nb\n\n\r",
            b"\xFF\xFE\x00\xD8\n\x00",
        ] {
            if let Ok(d) = Document::parse(bytes) {
                assert_eq!(d.to_bytes(), bytes, "{bytes:?}");
            }
        }
    }

    #[test]
    fn set_rewrites_in_place_and_appends() {
        let mut d = Document::parse(b"[Settings]\nDND = 0 \n; c\n[Other]\nx=1").unwrap();
        d.set("settings", "dnd", "1");
        d.set("Settings", "AA", "1");
        d.set("Other", "y", " padded ");
        d.set("New", "k", "v");
        assert_eq!(
            String::from_utf8(d.to_bytes()).unwrap(),
            "[Settings]\nDND = 1\nAA=1\n; c\n[Other]\nx=1\ny=\" padded \"\n[New]\nk=v\n"
        );
        d.remove("SETTINGS", "aa");
        assert!(d.index().section("Settings").unwrap().entry("AA").is_none());
    }

    #[test]
    fn ansi_file_that_would_read_back_as_utf8_becomes_utf16() {
        let mut d = Document::parse(b"[S]\nname=J\xC3\xBCrgen\nbad=\x99\n").unwrap();
        assert_eq!(d.encoding, FileEncoding::Ansi);
        assert_eq!(d.lines[1].text, "name=JÃ¼rgen");
        d.remove("S", "bad");
        assert_eq!(d.encoding, FileEncoding::Utf16Le);
        assert_eq!(d.to_bytes(), utf16("[S]\nname=JÃ¼rgen\n"));
    }

    #[test]
    fn ansi_file_that_cannot_hold_a_value_becomes_utf16() {
        let mut d = Document::parse(b"[Settings]\r\nname=J\xFCrgen\r\n").unwrap();
        d.set("Settings", "label", "Jürgen");
        assert_eq!(d.encoding, FileEncoding::Ansi);
        d.set("Settings", "label", "日本");
        assert_eq!(d.encoding, FileEncoding::Utf16Le);
        assert_eq!(
            d.to_bytes(),
            utf16("[Settings]\r\nname=Jürgen\r\nlabel=日本\r\n")
        );
    }
}
