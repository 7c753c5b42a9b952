//! Finding and scoring the customers a request could be: the owners of its identifiers
//! through the exact index, the customers sharing its blocking keys, each scored field by
//! field, and the decision over them. Read inside the transaction that acts on it.

use std::collections::BTreeSet;

use baton_proto::v1::{PersonTraits, Profile};

use super::{index, profile};
use crate::{
    Error,
    compare::model::Model,
    matching::{
        self, Decision, Frequencies, Query, Scored,
        blocking::{self, Members},
    },
    normalize::Normalized,
    standardize::{self, Person},
    store::IdentityRead,
};

/// Everything a request's candidates say.
#[derive(Debug, Clone)]
pub struct Found {
    /// `owners[i]`: the live customer holding identifier i exactly.
    pub owners: Vec<Option<String>>,
    /// The candidates' profiles as read (owners first, then by shared blocking keys).
    pub profiles: Vec<Profile>,
    /// The candidates scored, best first.
    pub ranked: Vec<Scored>,
    /// What they add up to.
    pub decision: Decision,
    /// The request's traits, standardized.
    pub person: Option<Person>,
}

impl Found {
    /// The profile of a candidate as read.
    pub fn profile(&self, customer_id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.customer_id == customer_id)
    }

    /// The query the candidates were scored against, over `identifiers`.
    pub fn query<'a>(&'a self, identifiers: &'a [Normalized]) -> Query<'a> {
        Query {
            identifiers,
            owners: &self.owners,
            person: self.person.clone(),
        }
    }
}

/// The tenant's matching weights: trained ones when there are, else the defaults.
pub fn model<V: IdentityRead + ?Sized>(view: &V) -> Result<Model, Error> {
    Ok(match view.weights()? {
        Some(weights) => Model::from_proto(&weights.fields),
        None => Model::default(),
    })
}

/// Finds, scores with `model` (see [`model`]; read once per transaction) and decides.
pub fn find<V: IdentityRead + ?Sized>(
    view: &V,
    model: &Model,
    identifiers: &[Normalized],
    traits: Option<&PersonTraits>,
) -> Result<Found, Error> {
    let (owners, mut profiles) = profile::owners(view, identifiers.iter().map(|n| &n.key))?;
    let person = traits.map(standardize::person).filter(|p| !p.is_empty());
    let mut keys = BTreeSet::new();
    if let Some(p) = &person {
        blocking::query_keys(p, &mut keys);
    }
    for (n, owner) in identifiers.iter().zip(&owners) {
        if owner.is_none() {
            blocking::identifier_keys(&n.key, &mut keys);
        }
    }
    if !keys.is_empty() {
        let keys: Vec<String> = keys.into_iter().collect();
        let members: Vec<Members> = view
            .blocks(&keys)?
            .iter()
            .map(|m| Members::decode(m.as_deref()))
            .collect();
        let known: BTreeSet<String> = profiles.iter().map(|p| p.customer_id.clone()).collect();
        let ids = blocking::rank(&members, &known);
        profiles.extend(view.profiles(&ids)?.into_iter().flatten());
    }
    let frequencies = frequencies(view, person.as_ref())?;
    let query = Query {
        identifiers,
        owners: &owners,
        person: person.clone(),
    };
    let ranked = matching::rank(
        profiles
            .iter()
            .map(|p| matching::score(model, &frequencies, &query, p))
            .collect(),
    );
    let decision = matching::decide(&ranked, &owners);
    Ok(Found {
        owners,
        profiles,
        ranked,
        decision,
        person,
    })
}

/// The name counts a query's names need.
fn frequencies<V: IdentityRead + ?Sized>(
    view: &V,
    person: Option<&Person>,
) -> Result<Frequencies, Error> {
    let Some(person) = person else {
        return Ok(Frequencies::default());
    };
    let names: Vec<&str> = [&person.given.canonical, &person.family.canonical]
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        return Ok(Frequencies::default());
    }
    // Both fields for each name, so names given the other way round are adjusted too.
    let mut terms = vec![index::PROFILES_TERM.to_owned()];
    for name in &names {
        terms.push(index::given_term(name));
        terms.push(index::family_term(name));
    }
    let counts = view.frequencies(&terms)?;
    let mut f = Frequencies {
        profiles: counts.first().copied().unwrap_or(0),
        ..Default::default()
    };
    for (i, name) in names.iter().enumerate() {
        f.given.insert((*name).to_owned(), counts[1 + 2 * i]);
        f.family.insert((*name).to_owned(), counts[2 + 2 * i]);
    }
    Ok(f)
}
