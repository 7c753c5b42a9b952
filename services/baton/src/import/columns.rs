//! Which CSV column holds which part of a profile, and one row as a `ProfileRecord`.
//!
//! Columns are found by header, case-insensitively, among the names exports commonly use;
//! `--column field=header` names one explicitly. The same row always becomes the same
//! record, so importing a file again changes nothing.

use std::fmt;

use baton_proto::v1::{
    Identifier, IdentifierAssurance, IdentifierKind, PersonTraits, PostalAddress, ProfileRecord,
};
use csv::StringRecord;

use super::dates::{self, DateOrder, Today};

/// A part of a profile a column can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The record's id in the source system.
    ExternalId,
    /// First name.
    GivenName,
    /// Last name.
    FamilyName,
    /// Date of birth.
    DateOfBirth,
    /// Phone number.
    Phone,
    /// E-mail address.
    Email,
    /// Account number.
    AccountNumber,
    /// National id (a social security number).
    NationalId,
    /// House number, put before the first address line.
    StreetNumber,
    /// First address line (the street).
    Address1,
    /// Second address line.
    Address2,
    /// Town or city.
    Locality,
    /// Postal code.
    PostalCode,
    /// State or region.
    Region,
    /// Country (ISO 3166-1 alpha-2).
    Country,
}

impl Field {
    /// Every field, in the order the summary lists them.
    pub const ALL: [Field; 15] = [
        Field::ExternalId,
        Field::GivenName,
        Field::FamilyName,
        Field::DateOfBirth,
        Field::Phone,
        Field::Email,
        Field::AccountNumber,
        Field::NationalId,
        Field::StreetNumber,
        Field::Address1,
        Field::Address2,
        Field::Locality,
        Field::PostalCode,
        Field::Region,
        Field::Country,
    ];

    /// The headers recognised for the field; the first is its name in `--column`.
    fn headers(self) -> &'static [&'static str] {
        match self {
            Field::ExternalId => &["external_id", "id", "rec_id"],
            Field::GivenName => &["given_name", "first_name"],
            Field::FamilyName => &["family_name", "surname", "last_name"],
            Field::DateOfBirth => &["date_of_birth", "dob", "birth_date"],
            Field::Phone => &["phone", "mobile"],
            Field::Email => &["email"],
            Field::AccountNumber => &["account_number"],
            Field::NationalId => &["national_id", "ssn", "soc_sec_id"],
            Field::StreetNumber => &["street_number"],
            Field::Address1 => &["address_1", "address", "street"],
            Field::Address2 => &["address_2"],
            Field::Locality => &["suburb", "city", "locality", "town"],
            Field::PostalCode => &["postcode", "zip", "postal_code"],
            Field::Region => &["state", "region"],
            Field::Country => &["country"],
        }
    }

    /// The field's name in `--column`.
    pub fn name(self) -> &'static str {
        self.headers()[0]
    }

    fn parse(name: &str) -> Option<Field> {
        let name = name.trim().to_ascii_lowercase();
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--column field=header` override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The field.
    pub field: Field,
    /// The header of the column that holds it.
    pub header: String,
}

/// Parses `field=header` for clap.
pub fn parse_override(spec: &str) -> Result<Override, String> {
    let (field, header) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?} is not field=header"))?;
    let field = Field::parse(field).ok_or_else(|| {
        let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        format!("unknown field {field:?}: one of {}", names.join(", "))
    })?;
    Ok(Override {
        field,
        header: header.trim().to_owned(),
    })
}

/// Where each field is in a file's rows.
#[derive(Clone, Debug)]
pub struct Columns {
    /// The column index of each field of [`Field::ALL`], if the file has it.
    at: [Option<usize>; Field::ALL.len()],
}

fn slot(field: Field) -> usize {
    Field::ALL.iter().position(|f| *f == field).unwrap_or(0)
}

impl Columns {
    /// Finds each field's column in `headers`, `overrides` first. Fails when an override
    /// names a header the file does not have, or nothing holds the external id.
    pub fn new(headers: &StringRecord, overrides: &[Override]) -> Result<Self, String> {
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
        };
        let mut at = [None; Field::ALL.len()];
        for field in Field::ALL {
            at[slot(field)] = field.headers().iter().find_map(|h| find(h));
        }
        for o in overrides {
            at[slot(o.field)] = Some(find(&o.header).ok_or_else(|| {
                format!(
                    "--column {}={}: the file has no column {:?}",
                    o.field, o.header, o.header
                )
            })?);
        }
        if at[slot(Field::ExternalId)].is_none() {
            return Err(
                "no column holds the external id (a header external_id, id or rec_id, or --column external_id=HEADER)"
                    .into(),
            );
        }
        Ok(Self { at })
    }

    /// The fields found, with their headers, for the start of an import.
    pub fn describe(&self, headers: &StringRecord) -> String {
        Field::ALL
            .into_iter()
            .filter_map(|f| {
                let i = self.at[slot(f)]?;
                Some(format!("{f}={}", headers.get(i).unwrap_or("?")))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn get<'r>(&self, row: &'r StringRecord, field: Field) -> &'r str {
        self.at[slot(field)]
            .and_then(|i| row.get(i))
            .map_or("", str::trim)
    }
}

/// How rows become records, besides the columns.
#[derive(Clone, Debug)]
pub struct RowRules {
    /// The source system named on every record.
    pub source: String,
    /// How `NN/NN/YYYY` dates are read.
    pub date_order: DateOrder,
    /// The region phone numbers without a country code are read in; empty, the service
    /// decides (the tenant's region).
    pub default_region: String,
    /// Today, for two-digit years of birth.
    pub today: Today,
}

/// One row as a record, or why it cannot be read.
pub fn record(
    columns: &Columns,
    rules: &RowRules,
    row: &StringRecord,
) -> Result<ProfileRecord, String> {
    let get = |f| columns.get(row, f);
    let mut identifiers = Vec::new();
    for (field, kind) in [
        (Field::Phone, IdentifierKind::Phone),
        (Field::Email, IdentifierKind::Email),
        (Field::AccountNumber, IdentifierKind::AccountNumber),
        (Field::NationalId, IdentifierKind::NationalId),
    ] {
        let value = get(field);
        if value.is_empty() {
            continue;
        }
        identifiers.push(Identifier {
            kind: kind as i32,
            value: value.to_owned(),
            // An export vouches for nothing the customer proved.
            assurance: IdentifierAssurance::Claimed as i32,
            namespace: String::new(),
            default_region: if kind == IdentifierKind::Phone {
                rules.default_region.clone()
            } else {
                String::new()
            },
        });
    }
    let first_line = format!("{} {}", get(Field::StreetNumber), get(Field::Address1));
    let lines: Vec<String> = [first_line.trim(), get(Field::Address2)]
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let address = PostalAddress {
        lines,
        locality: get(Field::Locality).to_owned(),
        region: get(Field::Region).to_owned(),
        postal_code: get(Field::PostalCode).to_owned(),
        country_code: get(Field::Country).to_ascii_uppercase(),
    };
    let traits = PersonTraits {
        given_name: get(Field::GivenName).to_owned(),
        family_name: get(Field::FamilyName).to_owned(),
        date_of_birth: dates::parse(get(Field::DateOfBirth), rules.date_order, rules.today)?,
        address: (address != PostalAddress::default()).then_some(address),
        language: String::new(),
    };
    Ok(ProfileRecord {
        external_id: get(Field::ExternalId).to_owned(),
        source: rules.source.clone(),
        identifiers,
        traits: (traits != PersonTraits::default()).then_some(traits),
        customer_since: None,
        attributes: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::CalendarDate;

    use super::*;

    fn rules() -> RowRules {
        RowRules {
            source: "legacy-crm".into(),
            date_order: DateOrder::DayFirst,
            default_region: String::new(),
            today: Today {
                year: 2026,
                month: 3,
                day: 15,
            },
        }
    }

    fn headers(names: &[&str]) -> StringRecord {
        StringRecord::from(names.to_vec())
    }

    #[test]
    fn common_headers_are_recognised_whatever_their_case() {
        let h = headers(&[
            "REC_ID",
            "First_Name",
            "Surname",
            "DOB",
            "Mobile",
            "Email",
            "Street_Number",
            "Address_1",
            "Address_2",
            "Suburb",
            "Postcode",
            "State",
            "Country",
            "Soc_Sec_Id",
        ]);
        let columns = Columns::new(&h, &[]).expect("columns");
        let row = StringRecord::from(vec![
            " rec-1 ",
            "Ann",
            "Lee",
            "14/07/1990",
            "0412 345 678",
            "ann@example.com",
            "12",
            "High St",
            "",
            "Carlton",
            "3053",
            "VIC",
            "au",
            "123-45-6789",
        ]);
        let record = record(&columns, &rules(), &row).expect("readable");
        assert_eq!(record.external_id, "rec-1");
        assert_eq!(record.source, "legacy-crm");
        let kinds: Vec<(i32, &str)> = record
            .identifiers
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (IdentifierKind::Phone as i32, "0412 345 678"),
                (IdentifierKind::Email as i32, "ann@example.com"),
                (IdentifierKind::NationalId as i32, "123-45-6789"),
            ]
        );
        let traits = record.traits.expect("traits");
        assert_eq!(traits.given_name, "Ann");
        assert_eq!(traits.family_name, "Lee");
        assert_eq!(
            traits.date_of_birth,
            Some(CalendarDate {
                year: 1990,
                month: 7,
                day: 14
            })
        );
        let address = traits.address.expect("address");
        assert_eq!(address.lines, ["12 High St"]);
        assert_eq!(address.locality, "Carlton");
        assert_eq!(address.postal_code, "3053");
        assert_eq!(address.region, "VIC");
        assert_eq!(address.country_code, "AU");
    }

    #[test]
    fn overrides_win_and_missing_fields_stay_empty() {
        let h = headers(&["Customer No", "id", "Town", "Line2", "Phone"]);
        let overrides = [
            parse_override("external_id=customer no").expect("valid"),
            parse_override("address_2=Line2").expect("valid"),
        ];
        let columns = Columns::new(&h, &overrides).expect("columns");
        assert_eq!(
            columns.describe(&h),
            "external_id=Customer No, phone=Phone, address_2=Line2, suburb=Town"
        );
        let row = StringRecord::from(vec!["C-9", "ignored", "", "Flat 2", ""]);
        let rules = RowRules {
            default_region: "AU".into(),
            ..rules()
        };
        let record = record(&columns, &rules, &row).expect("readable");
        assert_eq!(record.external_id, "C-9");
        assert!(record.identifiers.is_empty(), "an empty phone is no phone");
        let address = record.traits.and_then(|t| t.address).expect("address");
        assert_eq!(address.lines, ["Flat 2"]);
        assert_eq!(address.locality, "");

        let bare = record_of(&columns, &rules, &["C-10", "", "", "", "02 9876 5432"]);
        assert_eq!(bare.traits, None, "no traits given, none sent");
        assert_eq!(bare.identifiers[0].default_region, "AU");
    }

    fn record_of(columns: &Columns, rules: &RowRules, cells: &[&str]) -> ProfileRecord {
        record(columns, rules, &StringRecord::from(cells.to_vec())).expect("readable")
    }

    #[test]
    fn the_same_row_is_the_same_record() {
        let h = headers(&["id", "given_name", "dob", "email"]);
        let columns = Columns::new(&h, &[]).expect("columns");
        let cells = ["7", "Bo", "19800102", "bo@example.com"];
        assert_eq!(
            record_of(&columns, &rules(), &cells),
            record_of(&columns, &rules(), &cells)
        );
    }

    #[test]
    fn unusable_columns_and_dates_are_explained() {
        let err = Columns::new(&headers(&["name", "email"]), &[]).expect_err("no id");
        assert!(err.contains("external id"), "{err}");
        let err = Columns::new(
            &headers(&["id"]),
            &[parse_override("phone=Tel").expect("valid")],
        )
        .expect_err("no such header");
        assert!(err.contains("no column \"Tel\""), "{err}");
        assert!(parse_override("telephone=Tel").is_err());
        assert!(parse_override("phone").is_err());

        let columns = Columns::new(&headers(&["id", "dob"]), &[]).expect("columns");
        let err = record(
            &columns,
            &rules(),
            &StringRecord::from(vec!["1", "31/02/1990"]),
        )
        .expect_err("bad date");
        assert!(
            err.contains("31/02/1990") && err.contains("no such day"),
            "{err}"
        );
    }
}
