//! What each comparison level is worth: Fellegi–Sunter m and u probabilities and the
//! log2 likelihood ratio they give.
//!
//! m is the probability of a level when both records are the same person, u when they are
//! two different people. A level adds log2(m/u) to a pair's weight: positive when the
//! level is more common among true matches, negative when it is more common among
//! strangers. Weights are summed over fields, which assumes fields disagree independently
//! of each other given the match status (the usual and mostly harmless simplification).

use baton_proto::v1::{FieldComparison, FieldEvidence, FieldWeights, LevelWeight};

use super::{Comparison, Field};

/// Least u an exact name agreement is given when its term frequency is known: a name
/// shared by fewer than one profile in ten thousand still counts no more than that, since
/// a small tenant's count says little about how rare a name really is.
pub const TERM_FREQUENCY_FLOOR: f64 = 1e-4;

/// Smallest probability a level is given, so no level makes a weight infinite.
pub const MIN_PROBABILITY: f64 = 1e-6;

/// One comparison level of a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The level's name ("exact", "jaro-winkler >= 0.94", "different").
    pub name: String,
    /// How evidence reports a comparison at this level.
    pub comparison: FieldComparison,
    /// P(level | same person).
    pub m: f64,
    /// P(level | different people).
    pub u: f64,
}

impl Level {
    /// A level with its probabilities.
    fn new(name: &str, comparison: FieldComparison, m: f64, u: f64) -> Level {
        Level {
            name: name.to_owned(),
            comparison,
            m,
            u,
        }
    }

    /// log2(m / u), with both kept away from zero.
    pub fn weight(&self) -> f64 {
        (self.m.max(MIN_PROBABILITY) / self.u.max(MIN_PROBABILITY)).log2()
    }
}

/// The levels of every compared field with their probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Levels per field, indexed by [`Field::index`], most similar first, in the order
    /// [`super::compare`] numbers them.
    fields: Vec<Vec<Level>>,
}

impl Default for Model {
    /// Probabilities for data entered by people about themselves and by agents on a call.
    ///
    /// The m values assume that about four in five records of one person agree exactly on
    /// a given field, the rest split between typing errors (one letter or digit), a
    /// nickname or a changed address; the share kept for "different" is what people really
    /// change (a maiden name, a move) plus errors too large to recognise. The u values are
    /// the chance that two strangers agree: about one in a hundred share a given name and
    /// one in five hundred a family name in an English-speaking population, one in five
    /// thousand a date of birth (about 25,000 dates over seventy years of births, weighted
    /// towards the common ones), one in a hundred a locality or postal code, a quarter a
    /// region (a country has few). Fuzzy levels' u are the share of strangers whose values
    /// happen to be that close, which grows as the level loosens. Training replaces these
    /// with estimates from the tenant's own profiles.
    fn default() -> Model {
        use FieldComparison::{Exact, Fuzzy, Mismatch, Partial, Phonetic};
        let name_levels = |exact_u: f64, close_u: f64, similar_u: f64, phonetic_u: f64| {
            vec![
                Level::new("exact", Exact, 0.80, exact_u),
                Level::new("nickname", Fuzzy, 0.03, exact_u / 4.0),
                Level::new("jaro-winkler >= 0.94", Fuzzy, 0.07, close_u),
                Level::new("jaro-winkler >= 0.88", Fuzzy, 0.04, similar_u),
                Level::new("sounds alike", Phonetic, 0.015, phonetic_u),
                Level::new("initial", Partial, 0.01, 0.02),
                Level::new(
                    "different",
                    Mismatch,
                    0.035,
                    1.0 - exact_u * 1.25 - close_u - similar_u - phonetic_u - 0.02,
                ),
            ]
        };
        let exact_or_not = |m: f64, u: f64| {
            vec![
                Level::new("exact", Exact, m, u),
                Level::new("different", Mismatch, 1.0 - m, 1.0 - u),
            ]
        };
        let mut fields = vec![Vec::new(); Field::ALL.len()];
        fields[Field::GivenName.index()] = name_levels(0.01, 0.003, 0.008, 0.008);
        fields[Field::FamilyName.index()] = name_levels(0.002, 0.001, 0.004, 0.004);
        fields[Field::DateOfBirth.index()] = vec![
            Level::new("exact", Exact, 0.82, 0.0002),
            Level::new("day and month transposed", Partial, 0.02, 0.0001),
            Level::new("one digit or one day", Partial, 0.08, 0.003),
            Level::new("same year and month or day and month", Partial, 0.03, 0.005),
            Level::new("same year", Partial, 0.02, 0.015),
            Level::new("different", Mismatch, 0.03, 0.9767),
        ];
        fields[Field::HouseNumber.index()] = exact_or_not(0.80, 0.02);
        fields[Field::Street.index()] = vec![
            Level::new("exact", Exact, 0.75, 0.004),
            Level::new("token similarity >= 0.9", Fuzzy, 0.08, 0.002),
            Level::new("token similarity >= 0.75", Fuzzy, 0.05, 0.01),
            Level::new("different", Mismatch, 0.12, 0.984),
        ];
        fields[Field::Locality.index()] = vec![
            Level::new("exact", Exact, 0.80, 0.01),
            Level::new("jaro-winkler >= 0.92", Fuzzy, 0.07, 0.005),
            Level::new("different", Mismatch, 0.13, 0.985),
        ];
        fields[Field::PostalCode.index()] = vec![
            Level::new("exact", Exact, 0.80, 0.01),
            Level::new("one edit", Partial, 0.07, 0.06),
            Level::new("different", Mismatch, 0.13, 0.93),
        ];
        fields[Field::Region.index()] = exact_or_not(0.90, 0.25);
        Model { fields }
    }
}

impl Model {
    /// The levels of `field`, most similar first.
    pub fn levels(&self, field: Field) -> &[Level] {
        self.fields
            .get(field.index())
            .map_or(&[][..], Vec::as_slice)
    }

    /// The levels of `field`, to change.
    pub(crate) fn levels_mut(&mut self, field: Field) -> &mut [Level] {
        self.fields
            .get_mut(field.index())
            .map_or(&mut [][..], Vec::as_mut_slice)
    }

    /// log2(m/u) of a level; 0 for a level the field does not have. For level 0 of
    /// [`Field::GivenName`] or [`Field::FamilyName`] with `term_frequency` `Some(f)` (the
    /// share of the tenant's profiles with that name), u is `max(f, TERM_FREQUENCY_FLOOR)`
    /// instead of the level's u, so agreeing on a rare name counts for more than agreeing
    /// on a common one.
    pub fn weight(&self, field: Field, level: usize, term_frequency: Option<f64>) -> f64 {
        let Some(l) = self.levels(field).get(level) else {
            return 0.0;
        };
        match term_frequency {
            Some(f) if level == 0 && field.is_name() && f.is_finite() => {
                (l.m.max(MIN_PROBABILITY) / f.clamp(TERM_FREQUENCY_FLOOR, 1.0)).log2()
            }
            _ => l.weight(),
        }
    }

    /// The model as trained weights are reported.
    pub fn to_proto(&self) -> Vec<FieldWeights> {
        Field::ALL
            .into_iter()
            .map(|field| FieldWeights {
                field: field.name().to_owned(),
                levels: self
                    .levels(field)
                    .iter()
                    .map(|l| LevelWeight {
                        level: l.name.clone(),
                        m: l.m,
                        u: l.u,
                        weight: l.weight(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// A model from reported weights. Tolerant: unknown fields and levels are ignored,
    /// probabilities that are not in (0, 1] are ignored, and whatever is missing keeps its
    /// default.
    pub fn from_proto(fields: &[FieldWeights]) -> Model {
        Model::try_from_proto(fields).unwrap_or_default()
    }

    /// Like [`Model::from_proto`], but `None` when nothing in `fields` was usable (so the
    /// caller can tell stored weights from defaults).
    pub fn try_from_proto(fields: &[FieldWeights]) -> Option<Model> {
        let mut model = Model::default();
        let mut used = false;
        let usable = |p: f64| p.is_finite() && p > 0.0 && p <= 1.0;
        for weights in fields {
            let Some(field) = Field::from_name(&weights.field) else {
                continue;
            };
            for given in &weights.levels {
                let level = model
                    .levels_mut(field)
                    .iter_mut()
                    .find(|l| l.name == given.level);
                if let Some(level) = level
                    && usable(given.m)
                    && usable(given.u)
                {
                    level.m = given.m;
                    level.u = given.u;
                    used = true;
                }
            }
        }
        used.then_some(model)
    }
}

/// The summed weight of `comparisons` and one [`FieldEvidence`] per comparison (field name,
/// comparison kind of the level, weight, similarity, detail). Missing fields are
/// `FIELD_COMPARISON_MISSING` with weight 0. `term_frequency(field, term)` gives the share
/// of profiles with a name, for exact name agreements; `None` uses the level's u.
pub fn evidence(
    model: &Model,
    comparisons: &[Comparison],
    term_frequency: &dyn Fn(Field, &str) -> Option<f64>,
) -> (f64, Vec<FieldEvidence>) {
    let mut total = 0.0;
    let evidence = comparisons
        .iter()
        .map(|c| {
            let level = c
                .level
                .and_then(|l| Some((l, model.levels(c.field).get(l)?)));
            let (kind, weight) = match level {
                None => (FieldComparison::Missing, 0.0),
                Some((index, level)) => {
                    let frequency = if index == 0 && c.field.is_name() && !c.term.is_empty() {
                        term_frequency(c.field, &c.term)
                    } else {
                        None
                    };
                    (level.comparison, model.weight(c.field, index, frequency))
                }
            };
            total += weight;
            FieldEvidence {
                field: c.field.name().to_owned(),
                comparison: kind as i32,
                weight,
                similarity: c.similarity,
                detail: c.detail.clone(),
            }
        })
        .collect();
    (total, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{
        date_level, exact_level, locality_level, name_level, postal_level, street_level,
    };

    #[test]
    fn every_field_has_probabilities_that_sum_to_one() {
        let model = Model::default();
        for field in Field::ALL {
            let levels = model.levels(field);
            assert!(levels.len() >= 2, "{}", field.name());
            let m: f64 = levels.iter().map(|l| l.m).sum();
            let u: f64 = levels.iter().map(|l| l.u).sum();
            assert!((m - 1.0).abs() < 1e-9, "{} m sums to {m}", field.name());
            assert!((u - 1.0).abs() < 1e-9, "{} u sums to {u}", field.name());
            assert!(levels.iter().all(|l| l.m > 0.0 && l.u > 0.0));
            // The most similar level is evidence for, the last against.
            assert!(levels[0].weight() > 0.0);
            assert!(levels[levels.len() - 1].weight() < 0.0);
        }
    }

    #[test]
    fn level_counts_agree_with_what_compare_produces() {
        let model = Model::default();
        assert_eq!(
            model.levels(Field::GivenName).len(),
            name_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::FamilyName).len(),
            name_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::DateOfBirth).len(),
            date_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::HouseNumber).len(),
            exact_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::Street).len(),
            street_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::Locality).len(),
            locality_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::PostalCode).len(),
            postal_level::DIFFERENT + 1
        );
        assert_eq!(
            model.levels(Field::Region).len(),
            exact_level::DIFFERENT + 1
        );
    }

    #[test]
    fn term_frequency_replaces_u_of_an_exact_name_only() {
        let model = Model::default();
        let m = model.levels(Field::FamilyName)[0].m;
        let common = model.weight(Field::FamilyName, 0, Some(0.02));
        assert!((common - (m / 0.02).log2()).abs() < 1e-12);
        let rare = model.weight(Field::FamilyName, 0, Some(1e-9));
        assert!((rare - (m / TERM_FREQUENCY_FLOOR).log2()).abs() < 1e-12);
        assert_eq!(
            model.weight(Field::FamilyName, 2, Some(0.02)),
            model.levels(Field::FamilyName)[2].weight()
        );
        assert_eq!(
            model.weight(Field::DateOfBirth, 0, Some(0.5)),
            model.levels(Field::DateOfBirth)[0].weight()
        );
        assert_eq!(model.weight(Field::Region, 9, None), 0.0);
        assert!(
            model
                .weight(Field::GivenName, 0, Some(f64::NAN))
                .is_finite()
        );
    }

    #[test]
    fn the_proto_form_round_trips_and_tolerates_what_it_does_not_know() {
        let mut model = Model::default();
        model.levels_mut(Field::Street)[1].m = 0.2;
        let proto = model.to_proto();
        assert_eq!(proto.len(), 8);
        assert_eq!(proto[0].field, "given_name");
        assert!(
            (proto[0].levels[0].weight - model.levels(Field::GivenName)[0].weight()).abs() < 1e-12
        );
        assert_eq!(Model::from_proto(&proto), model);

        let odd = vec![
            FieldWeights {
                field: "shoe_size".to_owned(),
                levels: vec![],
            },
            FieldWeights {
                field: "region".to_owned(),
                levels: vec![
                    LevelWeight {
                        level: "exact".to_owned(),
                        m: 0.8,
                        u: 0.1,
                        weight: 99.0,
                    },
                    LevelWeight {
                        level: "nearly".to_owned(),
                        m: 0.1,
                        u: 0.1,
                        weight: 0.0,
                    },
                    LevelWeight {
                        level: "different".to_owned(),
                        m: f64::NAN,
                        u: 2.0,
                        weight: 0.0,
                    },
                ],
            },
        ];
        let read = Model::from_proto(&odd);
        assert_eq!(read.levels(Field::Region)[0].m, 0.8);
        assert_eq!(
            read.levels(Field::Region)[1],
            Model::default().levels(Field::Region)[1]
        );
        assert_eq!(
            read.levels(Field::Street),
            Model::default().levels(Field::Street)
        );
        assert!(Model::try_from_proto(&odd[..1]).is_none());
        assert_eq!(Model::from_proto(&[]), Model::default());
    }

    #[test]
    fn evidence_sums_weights_and_reports_missing_fields_as_zero() {
        let model = Model::default();
        let comparisons = vec![
            Comparison {
                field: Field::GivenName,
                level: Some(0),
                similarity: 1.0,
                detail: "exact".to_owned(),
                term: "robert".to_owned(),
            },
            Comparison {
                field: Field::DateOfBirth,
                level: None,
                similarity: 0.0,
                detail: "missing".to_owned(),
                term: String::new(),
            },
            Comparison {
                field: Field::Region,
                level: Some(1),
                similarity: 0.0,
                detail: "different".to_owned(),
                term: String::new(),
            },
        ];
        let asked = std::cell::RefCell::new(Vec::new());
        let frequency = |field: Field, term: &str| {
            asked.borrow_mut().push((field, term.to_owned()));
            Some(0.05)
        };
        let (total, evidence) = evidence(&model, &comparisons, &frequency);
        assert_eq!(
            *asked.borrow(),
            vec![(Field::GivenName, "robert".to_owned())]
        );
        let given = model.weight(Field::GivenName, 0, Some(0.05));
        let region = model.weight(Field::Region, 1, None);
        assert!((total - (given + region)).abs() < 1e-12);
        assert_eq!(evidence.len(), 3);
        assert_eq!(evidence[0].field, "given_name");
        assert_eq!(evidence[0].comparison, FieldComparison::Exact as i32);
        assert_eq!(evidence[1].comparison, FieldComparison::Missing as i32);
        assert_eq!(evidence[1].weight, 0.0);
        assert_eq!(evidence[2].comparison, FieldComparison::Mismatch as i32);
        assert_eq!(evidence[2].detail, "different");
    }
}
