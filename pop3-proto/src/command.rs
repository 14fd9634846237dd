//! POP3 command lines (RFC 1939 section 9, RFC 2449, RFC 2595, RFC 5034).

use mail_auth::Secret;
use mail_auth::sasl::MechanismName;

/// A parsed client command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER name`.
    User(String),
    /// `PASS string`: the rest of the line, spaces included.
    Pass(Secret),
    /// `APOP name digest`, the digest in lowercase hex.
    Apop {
        /// The mailbox name.
        user: String,
        /// The 32 hex digits of MD5(timestamp + secret), lowercased.
        digest: String,
    },
    /// `AUTH` without arguments: list the mechanisms.
    AuthList,
    /// `AUTH mechanism [initial-response]` (RFC 5034).
    Auth {
        /// The mechanism.
        mechanism: MechanismName,
        /// The base64 initial response as sent (`=` for an empty one).
        initial_response: Option<String>,
    },
    /// `STLS` (RFC 2595).
    Stls,
    /// `CAPA` (RFC 2449).
    Capa,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `DELE msg`.
    Dele(u32),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// `TOP msg n`.
    Top(u32, u32),
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
}

/// Why a command line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The keyword is not a POP3 command.
    #[error("unknown command")]
    Unknown,
    /// The keyword is known but its arguments are wrong.
    #[error("syntax error in arguments")]
    Syntax,
}

impl Command {
    /// Parses one command line, without its CRLF. Keywords are case-insensitive.
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        let line = std::str::from_utf8(line).map_err(|_| ParseError::Syntax)?;
        let (keyword, rest) = match line.split_once(' ') {
            Some((keyword, rest)) => (keyword, Some(rest)),
            None => (line, None),
        };
        if keyword.len() > 4 || keyword.is_empty() {
            return Err(ParseError::Unknown);
        }
        let keyword = keyword.to_ascii_uppercase();
        // PASS takes the rest of the line as it is: passwords may hold spaces.
        if keyword == "PASS" {
            let rest = rest.ok_or(ParseError::Syntax)?;
            if rest.is_empty() || rest.bytes().any(|b| b.is_ascii_control()) {
                return Err(ParseError::Syntax);
            }
            return Ok(Self::Pass(Secret::new(rest.as_bytes().to_vec())));
        }
        let args: Vec<&str> = match rest {
            Some(rest) => rest.split(' ').collect(),
            None => Vec::new(),
        };
        if args
            .iter()
            .any(|a| a.is_empty() || a.bytes().any(|b| !b.is_ascii_graphic()))
        {
            return Err(ParseError::Syntax);
        }
        let none = |command: Self| {
            if args.is_empty() {
                Ok(command)
            } else {
                Err(ParseError::Syntax)
            }
        };
        match keyword.as_str() {
            "USER" => match args[..] {
                [user] => Ok(Self::User(user.to_owned())),
                _ => Err(ParseError::Syntax),
            },
            "APOP" => match args[..] {
                [user, digest]
                    if digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    Ok(Self::Apop {
                        user: user.to_owned(),
                        digest: digest.to_ascii_lowercase(),
                    })
                }
                _ => Err(ParseError::Syntax),
            },
            "AUTH" => match args[..] {
                [] => Ok(Self::AuthList),
                [mechanism] | [mechanism, _] => {
                    let mechanism =
                        MechanismName::new(mechanism).map_err(|_| ParseError::Syntax)?;
                    let initial_response = args.get(1).map(|s| (*s).to_owned());
                    Ok(Self::Auth {
                        mechanism,
                        initial_response,
                    })
                }
                _ => Err(ParseError::Syntax),
            },
            "STLS" => none(Self::Stls),
            "CAPA" => none(Self::Capa),
            "STAT" => none(Self::Stat),
            "NOOP" => none(Self::Noop),
            "RSET" => none(Self::Rset),
            "QUIT" => none(Self::Quit),
            "LIST" => optional_number(&args).map(Self::List),
            "UIDL" => optional_number(&args).map(Self::Uidl),
            "RETR" => match args[..] {
                [n] => Ok(Self::Retr(number(n)?)),
                _ => Err(ParseError::Syntax),
            },
            "DELE" => match args[..] {
                [n] => Ok(Self::Dele(number(n)?)),
                _ => Err(ParseError::Syntax),
            },
            "TOP" => match args[..] {
                [n, lines] => Ok(Self::Top(number(n)?, number(lines)?)),
                _ => Err(ParseError::Syntax),
            },
            _ => Err(ParseError::Unknown),
        }
    }
}

fn optional_number(args: &[&str]) -> Result<Option<u32>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => number(n).map(Some),
        _ => Err(ParseError::Syntax),
    }
}

fn number(text: &str) -> Result<u32, ParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax);
    }
    text.parse().map_err(|_| ParseError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(Command::parse(b"stat"), Ok(Command::Stat));
        assert_eq!(Command::parse(b"LiSt 2"), Ok(Command::List(Some(2))));
        assert_eq!(Command::parse(b"top 1 0"), Ok(Command::Top(1, 0)));
        assert_eq!(Command::parse(b"uidl"), Ok(Command::Uidl(None)));
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(Command::parse(b"STAT 1"), Err(ParseError::Syntax));
        assert_eq!(Command::parse(b"RETR"), Err(ParseError::Syntax));
        assert_eq!(Command::parse(b"RETR x"), Err(ParseError::Syntax));
        assert_eq!(Command::parse(b"RETR 99999999999"), Err(ParseError::Syntax));
        assert_eq!(Command::parse(b"LIST  1"), Err(ParseError::Syntax));
        assert_eq!(Command::parse(b"APOP a 123"), Err(ParseError::Syntax));
        assert_eq!(Command::parse(b"XYZZY"), Err(ParseError::Unknown));
        assert_eq!(Command::parse(b""), Err(ParseError::Unknown));
    }

    #[test]
    fn pass_keeps_spaces() {
        assert_eq!(
            Command::parse(b"PASS my secret"),
            Ok(Command::Pass(Secret::new(b"my secret".to_vec())))
        );
        assert_eq!(Command::parse(b"PASS"), Err(ParseError::Syntax));
    }

    #[test]
    fn auth_forms() {
        assert_eq!(Command::parse(b"AUTH"), Ok(Command::AuthList));
        let Ok(Command::Auth {
            mechanism,
            initial_response,
        }) = Command::parse(b"auth plain AGEAYg==")
        else {
            panic!("not parsed");
        };
        assert_eq!(mechanism.as_str(), "PLAIN");
        assert_eq!(initial_response.as_deref(), Some("AGEAYg=="));
    }
}
