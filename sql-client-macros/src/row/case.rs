//! `rename_all` rules: field names (snake_case in Rust) to column names.

/// A `rename_all` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Snake,
    ScreamingSnake,
    Camel,
    Pascal,
    Kebab,
}

/// The names `rename_all` accepts, for parsing and for the error message.
pub(crate) const RULES: &[(&str, RenameRule)] = &[
    ("lowercase", RenameRule::Lower),
    ("UPPERCASE", RenameRule::Upper),
    ("snake_case", RenameRule::Snake),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
    ("camelCase", RenameRule::Camel),
    ("PascalCase", RenameRule::Pascal),
    ("kebab-case", RenameRule::Kebab),
];

impl RenameRule {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        RULES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }

    pub(crate) fn apply(self, field: &str) -> String {
        match self {
            Self::Lower | Self::Snake => field.to_ascii_lowercase(),
            Self::Upper | Self::ScreamingSnake => field.to_ascii_uppercase(),
            Self::Kebab => field.replace('_', "-"),
            Self::Camel | Self::Pascal => {
                let mut out = String::with_capacity(field.len());
                let mut upper = self == Self::Pascal;
                for c in field.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let cases = [
            (RenameRule::Camel, "user_id", "userId"),
            (RenameRule::Pascal, "user_id", "UserId"),
            (RenameRule::ScreamingSnake, "user_id", "USER_ID"),
            (RenameRule::Kebab, "user_id", "user-id"),
            (RenameRule::Upper, "id", "ID"),
            (RenameRule::Snake, "user_id", "user_id"),
        ];
        for (rule, field, column) in cases {
            assert_eq!(rule.apply(field), column, "{rule:?}");
        }
    }
}
