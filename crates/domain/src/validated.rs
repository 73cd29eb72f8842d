//! What every validated string newtype of the crate shares.

/// Implements, for a newtype whose one field is a `String` or a `Cow<'static, str>` and whose
/// `parse(&str) -> Result<Self, $error>` validates it: `as_str` (documented by `$doc`), `Display`
/// (the text as is), `TryFrom<String>` (through `parse`) and `From<$name> for String`, the two
/// conversions serde's `#[serde(try_from = "String", into = "String")]` needs, so no value is
/// deserialized unchecked.
macro_rules! validated_string {
    ($name:ident, $error:ty, as_str: $doc:literal) => {
        impl $name {
            #[doc = $doc]
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0.into()
            }
        }
    };
}
