//! The operations a role may perform on a table, parsed from strings such as `"crud"` or `"r"`.

use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
}

impl Permissions {
    /// Parses letters `c`, `r`, `u`, `d` in any order; an empty string grants nothing.
    pub fn parse(letters: &str) -> Result<Self, String> {
        let mut permissions = Permissions::default();
        for letter in letters.chars() {
            let slot = match letter {
                'c' => &mut permissions.create,
                'r' => &mut permissions.read,
                'u' => &mut permissions.update,
                'd' => &mut permissions.delete,
                other => {
                    return Err(format!(
                        "`{other}` in \"{letters}\" is not an operation; use the letters c (create), \
                         r (read), u (update) and d (delete), e.g. \"crud\" or \"r\""
                    ));
                }
            };
            if *slot {
                return Err(format!("`{letter}` appears twice in \"{letters}\""));
            }
            *slot = true;
        }
        Ok(permissions)
    }

    pub fn any(self) -> bool {
        self.create || self.read || self.update || self.delete
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (granted, letter) in [
            (self.create, 'c'),
            (self.read, 'r'),
            (self.update, 'u'),
            (self.delete, 'd'),
        ] {
            if granted {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Permissions;

    #[test]
    fn parses_letters_and_refuses_others() {
        let read_only = Permissions::parse("r").unwrap();
        assert!(read_only.read && !read_only.create && !read_only.update && !read_only.delete);
        assert_eq!(Permissions::parse("dcru").unwrap().to_string(), "crud");
        assert!(!Permissions::parse("").unwrap().any());
        assert!(Permissions::parse("rw").unwrap_err().contains("`w`"));
        assert!(Permissions::parse("rr").unwrap_err().contains("twice"));
    }
}
