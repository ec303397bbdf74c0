//! JSON encoding of `f64` that keeps non-finite values: finite numbers are JSON numbers
//! (read back bit-identically thanks to serde_json's `float_roundtrip`), infinities and NaN are
//! the strings `"inf"`, `"-inf"` and `"nan"` (plain serde_json would write `null`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug)]
pub(crate) struct JsonF64(pub f64);

impl Serialize for JsonF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Num(f64),
    Str(String),
}

impl<'de> Deserialize<'de> for JsonF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(JsonF64(v)),
            Repr::Str(s) => match s.as_str() {
                "inf" => Ok(JsonF64(f64::INFINITY)),
                "-inf" => Ok(JsonF64(f64::NEG_INFINITY)),
                "nan" => Ok(JsonF64(f64::NAN)),
                other => {
                    Err(D::Error::custom(format!("expected a number, \"inf\", \"-inf\" or \"nan\", got {other:?}")))
                }
            },
        }
    }
}

/// `#[serde(with = "fser::one")]` for an `f64` field.
pub(crate) mod one {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        JsonF64(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(JsonF64::deserialize(d)?.0)
    }
}

/// `#[serde(with = "fser::vec")]` for a `Vec<f64>` field.
pub(crate) mod vec {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for &x in v {
            seq.serialize_element(&JsonF64(x))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<JsonF64>::deserialize(d)?.into_iter().map(|x| x.0).collect())
    }
}
