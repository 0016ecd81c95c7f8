use super::*;
use uuid::Uuid;

/// A synthetic list written for these tests: the names are made up.
fn listed() -> Vec<ListedParty> {
    let party =
        |id: &str, name: &str, aliases: &[&str], country: &str, address: &str| ListedParty {
            entry_id: id.into(),
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            addresses: if address.is_empty() {
                vec![]
            } else {
                vec![address.into()]
            },
            countries: vec![country.into()],
            source_list: "Entity List (EL) - Bureau of Industry and Security".into(),
            programs: vec!["EAR".into()],
        };
    vec![
        party(
            "e1",
            "Northern Star Electronics Co., Ltd.",
            &["NSE Trading"],
            "CN",
            "18 Keyuan Road, Shenzhen",
        ),
        party(
            "e2",
            "Zvezda Instrument Works",
            &[],
            "RU",
            "4 Prospekt Mira, Moscow",
        ),
        party(
            "e3",
            "Golden Harbour Shipping Trading LLC",
            &[],
            "AE",
            "Jebel Ali Free Zone, Dubai",
        ),
        party(
            "e4",
            "Al-Rashid Technical Supplies",
            &[],
            "SY",
            "Baghdad Street, Damascus",
        ),
        party("e5", "Ivan Petrovich Sidorenko", &[], "RU", ""),
        party(
            "e6",
            "Kavosh Electronic Research Center",
            &["KERC"],
            "IR",
            "Azadi Avenue, Tehran",
        ),
        party(
            "e7",
            "Meridian Dual-Use Components GmbH",
            &[],
            "DE",
            "Hafenstrasse 9, Hamburg",
        ),
        party("e8", "Özdemir Savunma Sanayi A.Ş.", &[], "TR", "Ankara"),
        party(
            "e9",
            "Pacific Crest Semiconductor Holdings",
            &["PCS Holdings"],
            "HK",
            "88 Queensway, Hong Kong",
        ),
        party("e10", "Baltic Amber Logistics", &[], "LV", "Riga"),
    ]
}

fn query(name: &str, country: &str) -> PartyQuery {
    PartyQuery {
        name: name.into(),
        country: (!country.is_empty()).then(|| country.into()),
        address: String::new(),
    }
}

#[test]
fn names_are_normalised_for_case_punctuation_diacritics_legal_forms_and_script() {
    assert_eq!(
        name_tokens("NORTHERN-STAR Electronics Co., Ltd."),
        ["northern", "star", "electronics"]
    );
    assert_eq!(
        name_tokens("Özdemir Savunma Sanayi A.Ş."),
        ["ozdemir", "savunma", "sanayi"]
    );
    assert_eq!(
        name_tokens("Иван Петрович Сидоренко"),
        ["ivan", "petrovich", "sidorenko"]
    );
    let reordered = name_similarity(
        &name_tokens("Sidorenko, Ivan Petrovich"),
        &name_tokens("Ivan Petrovich Sidorenko"),
    );
    assert_eq!(reordered, 1.0);
}

/// True matches (spelling variants, transliterations, reordered words, legal forms) and near
/// misses (other parties with similar names), each labelled with the entry it is.
fn labelled_sample() -> Vec<(PartyQuery, Option<&'static str>)> {
    vec![
        (
            query("Northern Star Electronics Company Limited", "CN"),
            Some("e1"),
        ),
        (query("NORTHERN-STAR ELECTRONICS", ""), Some("e1")),
        (query("Electronics Northern Star", "CN"), Some("e1")),
        (query("Nothern Star Electronics", "CN"), Some("e1")),
        (query("NSE Trading Co", "CN"), Some("e1")),
        (query("Zvezda Instrument Works JSC", "RU"), Some("e2")),
        (query("Звезда Инструмент Воркс", "RU"), Some("e2")),
        (query("Instrument Works Zvezda", ""), Some("e2")),
        (query("Golden Harbor Shipping Trading", "AE"), Some("e3")),
        (query("Golden Harbour Shipping", "AE"), Some("e3")),
        (query("Al Rasheed Technical Supply", "SY"), Some("e4")),
        (query("AL-RASHID TECHNICAL SUPPLIES CO", ""), Some("e4")),
        (query("Sidorenko, Ivan Petrovich", "RU"), Some("e5")),
        (query("Иван Петрович Сидоренко", ""), Some("e5")),
        (query("Ivan Petrovitch Sidorenko", "RU"), Some("e5")),
        (
            query("Kavosh Electronics Research Centre", "IR"),
            Some("e6"),
        ),
        (query("Research Center Kavosh Electronic", ""), Some("e6")),
        (query("Meridian Dual Use Components", "DE"), Some("e7")),
        (query("Ozdemir Savunma Sanayii", "TR"), Some("e8")),
        (
            query("Pacific Crest Semiconductors Holding Ltd", "HK"),
            Some("e9"),
        ),
        (query("PCS Holdings Limited", "HK"), Some("e9")),
        (query("Baltic Amber Logistic SIA", "LV"), Some("e10")),
        // Near misses: other parties.
        (query("Northern Light Electronics", "CN"), None),
        (query("Southern Star Trading", "CN"), None),
        (query("Golden Harvest Shipping", "AE"), None),
        (query("Kavosh Food Industries", "IR"), None),
        (query("Al-Rashid Bakery", "SY"), None),
        (query("Meridian Components Ltd", "GB"), None),
        (query("Zvezda Bakery", "RU"), None),
        (query("Pacific Crest Dental Clinic", "US"), None),
        (query("Crest Semiconductor Equipment", "US"), None),
        (query("Baltic Timber Logistics", "EE"), None),
        (query("Example Cloud Ltd", "CN"), None),
        (query("Sidorov Engineering", "RU"), None),
        (query("Research Center for Applied Optics", "DE"), None),
        (query("Star Electronics Distribution", "US"), None),
        (query("Harbour Bridge Trading", "AU"), None),
        (query("Ivan Petrov", "RU"), None),
        (query("Northern Star Foods", "CN"), None),
        (query("Zvezda Instruments Trading", "RU"), None),
        (query("Pacific Semiconductor Holdings", "HK"), None),
    ]
}

#[test]
fn the_labelled_sample_is_found_with_the_target_recall_and_precision() {
    let index = ScreeningIndex::build(listed().into_iter().map(|p| (Uuid::nil(), p)).collect());
    let (mut true_positives, mut false_positives, mut false_negatives) = (0, 0, 0);
    for (q, expected) in labelled_sample() {
        let hits = index.screen(&q, DEFAULT_THRESHOLD);
        let found: Vec<&str> = hits.iter().map(|h| h.entry_id.as_str()).collect();
        match expected {
            Some(id) if found.contains(&id) => true_positives += 1,
            Some(id) => {
                false_negatives += 1;
                println!("missed {id}: {:?}", q.name);
            }
            None => {}
        }
        for hit in &hits {
            if Some(hit.entry_id.as_str()) != expected {
                false_positives += 1;
                println!(
                    "false hit {} ({}) for {:?}",
                    hit.entry_id, hit.score, q.name
                );
            }
        }
    }
    let recall = f64::from(true_positives) / f64::from(true_positives + false_negatives);
    let precision = f64::from(true_positives) / f64::from(true_positives + false_positives);
    println!(
        "screening sample at threshold {DEFAULT_THRESHOLD}: recall {recall:.3}, precision {precision:.3} \
         ({true_positives} found, {false_negatives} missed, {false_positives} false hits)"
    );
    assert!(recall >= 0.95, "recall {recall:.3} below 0.95");
    assert!(precision >= 0.8, "precision {precision:.3} below 0.8");
}

#[test]
fn a_hit_names_its_score_and_the_fields_that_agreed() {
    let index = ScreeningIndex::build(listed().into_iter().map(|p| (Uuid::nil(), p)).collect());
    let hits = index.screen(
        &PartyQuery {
            name: "Звезда Инструмент Воркс".into(),
            country: Some("RU".into()),
            address: "4 Prospekt Mira, Moscow".into(),
        },
        DEFAULT_THRESHOLD,
    );
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.entry_id, "e2");
    assert_eq!(hit.matched_fields, ["name", "country", "address"]);
    assert!(hit.score > 0.9 && hit.score <= 1.0, "{}", hit.score);
    let alias = index.screen(&query("NSE Trading", "CN"), DEFAULT_THRESHOLD);
    assert_eq!(alias[0].matched_fields[0], "alias");
    assert_eq!(alias[0].matched_name, "NSE Trading");
    // Another country lowers the score below the threshold for a partial name.
    assert!(
        index
            .screen(&query("Golden Harbour Shipping", "US"), DEFAULT_THRESHOLD)
            .is_empty()
    );
}

const CSL_CSV: &str = "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n\
c1,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR,Northern Star Electronics Co. Ltd.,,\"18 Keyuan Road, Shenzhen, CN\",NSE Trading; Northern Star HK,\n\
c2,Specially Designated Nationals (SDN) - Treasury Department,1234,Individual,RUSSIA-EO14024,Ivan Petrovich Sidorenko,,,\"Sidorenko, Ivan\",RU\n";

#[test]
fn the_consolidated_screening_list_is_read_from_csv_and_json() {
    let parties = parse_list(ListFormat::CslCsv, CSL_CSV).unwrap();
    assert_eq!(parties.len(), 2);
    assert_eq!(parties[0].aliases, ["NSE Trading", "Northern Star HK"]);
    assert_eq!(parties[0].countries, ["CN"]);
    assert_eq!(parties[1].countries, ["RU"]);
    assert_eq!(parties[1].programs, ["RUSSIA-EO14024"]);
    let json = r#"{"total": 1, "results": [{"id": "j1", "name": "Kavosh Electronic Research Center",
        "alt_names": ["KERC"], "addresses": [{"address": "Azadi Avenue", "city": "Tehran", "country": "IR"}],
        "source": "Entity List (EL) - Bureau of Industry and Security", "programs": ["EAR"]}]}"#;
    let parties = parse_list(ListFormat::CslJson, json).unwrap();
    assert_eq!(parties[0].addresses, ["Azadi Avenue, Tehran, IR"]);
    assert_eq!(parties[0].countries, ["IR"]);
}

#[test]
fn follow_the_money_entities_are_read_and_non_parties_skipped() {
    let lines = concat!(
        r#"{"id": "os-1", "schema": "Company", "properties": {"name": ["Zvezda Instrument Works"], "alias": ["ZIW"], "country": ["ru"], "address": ["4 Prospekt Mira, Moscow"], "topics": ["sanction"]}, "datasets": ["us_ofac_sdn"]}"#,
        "\n",
        r#"{"id": "os-2", "schema": "Sanction", "properties": {"entity": ["os-1"]}}"#,
        "\n\n",
        r#"{"id": "os-3", "schema": "Person", "properties": {"name": ["Ivan Petrovich Sidorenko", "Иван Сидоренко"], "nationality": ["ru"]}}"#,
        "\n"
    );
    let parties = parse_list(ListFormat::FollowTheMoney, lines).unwrap();
    assert_eq!(parties.len(), 2);
    assert_eq!(parties[0].countries, ["RU"]);
    assert_eq!(parties[0].source_list, "us_ofac_sdn");
    assert_eq!(parties[1].aliases, ["Иван Сидоренко"]);
}

#[test]
fn a_malformed_file_is_refused_naming_its_lines() {
    let broken = format!("{CSL_CSV}c3,Entity List,,Entity,EAR\n");
    let v = parse_list(ListFormat::CslCsv, &broken).unwrap_err();
    let described: Vec<String> = v.iter().map(|v| v.description.clone()).collect();
    assert!(described[0].starts_with("line 4:"), "{described:?}");
    let v = parse_list(ListFormat::FollowTheMoney, "{\"id\": \"x\", \"schema\": \"Company\", \"properties\": {\"name\": [\"A\"]}}\n{not json\n").unwrap_err();
    assert!(
        v.iter()
            .any(|v| v.description.starts_with("line 2: not JSON")),
        "{v}"
    );
    let v = parse_list(ListFormat::CslCsv, "id,title\n1,x\n").unwrap_err();
    assert!(v.to_string().contains("'name'"), "{v}");
    assert!(
        parse_list(ListFormat::CslJson, "{\"results\": []}").is_err(),
        "no entries"
    );
}
