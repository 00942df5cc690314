//! Key and string-value positions of a JSON file. `serde_json` keeps no positions, so this walks
//! the text once; it runs only on a file `serde_json` has already parsed, to place an error.

use super::Spot;

pub(super) fn spots(text: &str) -> Option<Vec<Spot>> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut walker = Walker {
        text: text.as_bytes(),
        at: 0,
        path: Vec::new(),
        spots: Vec::new(),
    };
    walker.value()?;
    Some(walker.spots)
}

struct Walker<'t> {
    text: &'t [u8],
    at: usize,
    path: Vec<String>,
    spots: Vec<Spot>,
}

impl Walker<'_> {
    fn skip_space(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.at).copied()
    }

    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => {
                let offset = self.at;
                let text = self.string()?;
                self.spots.push(Spot {
                    path: self.path.clone(),
                    text,
                    is_key: false,
                    offset,
                });
                Some(())
            }
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|b| !b",]} \t\r\n".contains(b))
                {
                    self.at += 1;
                }
                Some(())
            }
        }
    }

    fn object(&mut self) -> Option<()> {
        self.at += 1;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.peek()?;
            let offset = self.at;
            let key = self.string()?;
            self.path.push(key.clone());
            self.spots.push(Spot {
                path: self.path.clone(),
                text: key,
                is_key: true,
                offset,
            });
            (self.peek()? == b':').then_some(())?;
            self.at += 1;
            self.value()?;
            self.path.pop();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<()> {
        self.at += 1;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        let mut index = 0;
        loop {
            self.path.push(index.to_string());
            self.value()?;
            self.path.pop();
            index += 1;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string starting at the current `"`, unescaped by `serde_json`.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.at += 1;
        while let Some(&byte) = self.text.get(self.at) {
            self.at += 1;
            match byte {
                b'\\' => self.at += 1,
                b'"' => {
                    let raw = std::str::from_utf8(&self.text[start..self.at]).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => {}
            }
        }
        None
    }
}
