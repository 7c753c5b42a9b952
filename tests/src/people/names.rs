//! Word lists the generator draws from, written for this generator. Each list runs roughly
//! from common to rare: [`super::Rng::skewed`] favours the front, so a few names and towns
//! are frequent (as in life, and as a matcher's frequency weights need) and most are rare.

/// Given names from several cultures, some with diacritics.
#[rustfmt::skip]
pub const GIVEN: &[&str] = &[
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Margaret",
    "Anthony", "Sandra", "Mark", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Joshua",
    "Donna", "Kenneth", "Michelle", "Kevin", "Carol", "Brian", "Amanda", "George", "Melissa",
    "Edward", "Deborah", "Ronald", "Stephanie", "Timothy", "Rebecca", "Jason", "Laura",
    "Jeffrey", "Helen", "Ryan", "Sharon", "Jacob", "Cynthia", "Gary", "Kathleen", "Nicholas",
    "Amy", "Eric", "Shirley", "Jonathan", "Angela", "Stephen", "Anna", "Larry", "Ruth",
    "Justin", "Brenda", "Scott", "Pamela", "Brandon", "Nicole", "Benjamin", "Katherine",
    "Samuel", "Samantha", "Gregory", "Christine", "Alexander", "Catherine", "Patrick",
    "Virginia", "Frank", "Rachel", "Raymond", "Janet", "Jack", "Emma", "Dennis", "Carolyn",
    "Jerry", "Maria", "Tyler", "Heather", "Aaron", "Diane", "José", "Julie", "Adam", "Joyce",
    "Nathan", "Victoria", "Henry", "Kelly", "Zachary", "Christina", "Douglas", "Joan", "Peter",
    "Evelyn", "Kyle", "Lauren", "Noah", "Judith", "Ethan", "Olivia", "Jeremy", "Frances",
    "Walter", "Martha", "Christian", "Cheryl", "Keith", "Megan", "Roger", "Andrea", "Terry",
    "Hannah", "Austin", "Jacqueline", "Sean", "Ann", "Gerald", "Jean", "Carl", "Alice",
    "Harold", "Kathryn", "Dylan", "Gloria", "Arthur", "Teresa", "Lawrence", "Doris", "Jordan",
    "Sara", "Jesse", "Janice", "Bryan", "Julia", "Billy", "Marie", "Bruce", "Madison",
    "Gabriel", "Grace", "Joe", "Judy", "Logan", "Theresa", "Alan", "Beverly", "Juan", "Denise",
    "Albert", "Marilyn", "Willie", "Amber", "Elijah", "Danielle", "Wayne", "Abigail", "Randy",
    "Brittany", "Vincent", "Rose", "Mason", "Diana", "Roy", "Natalie", "Ralph", "Sophia",
    "Bobby", "Alexis", "Russell", "Lori", "Bradley", "Kayla", "Philip", "Jane", "Eugene",
    "Isabella", "María", "Sofía", "Alejandro", "Lucía", "Javier", "Camila", "Diego",
    "Valentina", "Andrés", "Mónica", "Raúl", "Inés", "Sebastián", "Pilar", "Ramón", "Ximena",
    "Joaquín", "Begoña", "Minh", "Thảo", "Huong", "Quang", "Linh", "Tuấn", "Phương", "Duc",
    "Wei", "Mei", "Jun", "Xiaoling", "Hao", "Yan", "Jian", "Ling", "Priya", "Arjun", "Ananya",
    "Rahul", "Deepika", "Vikram", "Lakshmi", "Sanjay", "Kavya", "Rohan", "Mohammed", "Fatima",
    "Ahmed", "Aisha", "Omar", "Layla", "Yusuf", "Zainab", "Karim", "Nour", "Jürgen", "Björn",
    "Günter", "Käthe", "Lukas", "Anneliese", "Søren", "Åsa", "Ingrid", "Magnus", "Sigrid",
    "Henrik", "Siobhán", "Seán", "Niamh", "Ciarán", "Aoife", "Pádraig", "Łukasz", "Małgorzata",
    "Wojciech", "Agnieszka", "Krzysztof", "Zofia", "Hélène", "François", "Amélie", "Jérôme",
    "Céline", "Benoît", "Giuseppe", "Francesca", "Lorenzo", "Chiara", "Matteo", "Giulia",
    "Dimitrios", "Eleni", "Nikos", "Katerina", "Tomasz", "Oksana", "Dmitri", "Svetlana",
    "Kwame", "Ama", "Chidi", "Ngozi", "Tendai", "Aroha", "Tane", "Haruto", "Yuki", "Sakura",
    "Hiroshi", "Min-jun", "Seo-yeon", "Ji-ho",
];

/// Family names from several cultures, some with diacritics or punctuation.
#[rustfmt::skip]
pub const FAMILY: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Nguyen", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson",
    "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker", "Nelson",
    "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans",
    "Edwards", "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Wood", "James", "Bennett", "Gray", "Hughes", "Price", "Sanders", "Myers", "Long",
    "Ross", "Foster", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman",
    "Butler", "Henderson", "Barnes", "Fisher", "Vasquez", "Simmons", "Graham", "Marshall",
    "Owens", "Harrison", "Gibson", "Wallace", "Hamilton", "Ellis", "McDonald", "MacLeod",
    "O'Brien", "O'Connor", "Fitzgerald", "Gallagher", "Byrne", "Quinn", "Doyle", "Hernández",
    "López", "González", "Pérez", "Sánchez", "Ramírez", "Torres", "Flores", "Rivera", "Gómez",
    "Díaz", "Cruz", "Morales", "Reyes", "Gutiérrez", "Ortiz", "Jiménez", "Castillo", "Muñoz",
    "Ibáñez", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Ngô", "Wang",
    "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Patel",
    "Sharma", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Desai", "Mehta", "Chowdhury",
    "Haddad", "Khalil", "Nasser", "Saleh", "Hassan", "Mansour", "Farouk", "Aziz", "Müller",
    "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Schäfer", "Köhler",
    "Hoffmann", "Jørgensen", "Nielsen", "Lindqvist", "Åberg", "Sørensen", "Johansson",
    "Karlsson", "Haugen", "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński",
    "Lewandowski", "Dubois", "Lefèvre", "Moreau", "Girard", "Lambert", "Rousseau", "Bonnet",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
    "Papadopoulos", "Georgiou", "Nikolaidis", "Ivanova", "Petrov", "Kuznetsov", "Popescu",
    "Horvat", "Novák", "Mensah", "Okafor", "Adeyemi", "Moyo", "Ngata", "Tanaka", "Suzuki",
    "Takahashi", "Watanabe", "Kim", "Park", "Choi", "Jung", "Kang", "Yamamoto", "Van der Berg",
    "De Vries", "Janssen", "Peeters", "Ashworth", "Fairweather", "Pemberton", "Whitlock",
    "Thistlewood", "Blackwood", "Underhill", "Hollingsworth", "Featherstone", "Marchetti",
    "Abernethy", "Quigley", "Drummond",
];

/// Nicknames and short forms: (formal, familiar).
#[rustfmt::skip]
pub const NICKNAMES: &[(&str, &str)] = &[
    ("Robert", "Bob"), ("Robert", "Rob"), ("William", "Bill"), ("William", "Will"),
    ("Richard", "Dick"), ("Richard", "Rick"), ("James", "Jim"), ("James", "Jimmy"),
    ("John", "Jack"), ("John", "Johnny"), ("Michael", "Mike"), ("Elizabeth", "Liz"),
    ("Elizabeth", "Beth"), ("Margaret", "Peggy"), ("Margaret", "Maggie"), ("Katherine", "Kate"),
    ("Catherine", "Cathy"), ("Kathleen", "Kathy"), ("Jennifer", "Jenny"), ("Patricia", "Trish"),
    ("Patricia", "Patty"), ("Thomas", "Tom"), ("Christopher", "Chris"), ("Christine", "Chris"),
    ("Daniel", "Dan"), ("Matthew", "Matt"), ("Anthony", "Tony"), ("Steven", "Steve"),
    ("Stephen", "Steve"), ("Andrew", "Andy"), ("Joshua", "Josh"), ("Kenneth", "Ken"),
    ("Edward", "Ted"), ("Edward", "Eddie"), ("Ronald", "Ron"), ("Timothy", "Tim"),
    ("Jeffrey", "Jeff"), ("Nicholas", "Nick"), ("Jonathan", "Jon"), ("Samuel", "Sam"),
    ("Samantha", "Sam"), ("Gregory", "Greg"), ("Alexander", "Alex"), ("Alexander", "Sasha"),
    ("Patrick", "Paddy"), ("Frances", "Fran"), ("Victoria", "Vicky"), ("Deborah", "Debbie"),
    ("Rebecca", "Becky"), ("Susan", "Sue"), ("Barbara", "Barb"), ("Jacqueline", "Jackie"),
    ("Abigail", "Abby"), ("Benjamin", "Ben"), ("Lawrence", "Larry"), ("Douglas", "Doug"),
    ("Gerald", "Gerry"), ("Harold", "Harry"), ("Henry", "Harry"), ("Raymond", "Ray"),
    ("Zachary", "Zach"), ("Isabella", "Bella"), ("Francesca", "Franca"), ("Giuseppe", "Beppe"),
    ("Alejandro", "Álex"), ("José", "Pepe"), ("Dmitri", "Dima"), ("Svetlana", "Sveta"),
    ("Małgorzata", "Gosia"), ("Krzysztof", "Krzyś"), ("Mohammed", "Mo"), ("Joseph", "Joe"),
];

/// Street names (the type is drawn separately from [`STREET_TYPES`]).
#[rustfmt::skip]
pub const STREETS: &[&str] = &[
    "Main", "Church", "High", "Park", "Oak", "Maple", "Cedar", "Elm", "Pine", "Lake", "Hill",
    "Washington", "Lincoln", "Jefferson", "Madison", "Franklin", "Highland", "Sunset", "Ridge",
    "River", "Spring", "Meadow", "Valley", "Forest", "Walnut", "Chestnut", "Willow", "Birch",
    "Aspen", "Poplar", "Sycamore", "Magnolia", "Juniper", "Laurel", "Hawthorn", "Wattle",
    "Banksia", "Jacaranda", "Eucalyptus", "Acacia", "Mill", "Station", "Bridge", "Market",
    "School", "College", "Union", "Water", "King", "Queen", "Prince", "Victoria", "Albert",
    "George", "Elizabeth", "Wellington", "Nelson", "Cambridge", "Oxford", "York", "Bristol",
    "Kingsley", "Ashford", "Bramble", "Copperfield", "Drayton", "Ellery", "Fenwick", "Garrick",
    "Harcourt", "Inglewood", "Jasper", "Kestrel", "Lindon", "Marlowe", "Northgate", "Orchard",
    "Pembroke", "Quarry", "Rosewood", "Sheffield", "Thornbury", "Upland", "Vantage", "Whitby",
    "Yarrow", "Zephyr", "Harbour", "Seaview", "Clifton", "Beacon", "Grove", "Heather", "Ivy",
    "Primrose", "Bluebell", "Foxglove", "Larkspur", "Kingfisher", "Heron", "Falcon", "Osprey",
    "Sparrow", "Wren", "Robin", "Swallow", "Emerald", "Garnet", "Opal", "Sapphire", "Granite",
    "Flint", "Slate", "Marble", "Canal", "Ferry", "Wharf", "Dock", "Mission", "Plaza",
    "Alameda", "Bonita", "Encina", "Vista", "Palomar", "Sierra", "Cordova", "Granada",
    "Valencia",
];

/// Street types: (full, abbreviation).
#[rustfmt::skip]
pub const STREET_TYPES: &[(&str, &str)] = &[
    ("Street", "St"), ("Road", "Rd"), ("Avenue", "Ave"), ("Drive", "Dr"), ("Lane", "Ln"),
    ("Court", "Ct"), ("Place", "Pl"), ("Crescent", "Cres"), ("Boulevard", "Blvd"),
    ("Terrace", "Tce"), ("Parade", "Pde"), ("Close", "Cl"), ("Circuit", "Cct"),
    ("Highway", "Hwy"), ("Square", "Sq"), ("Parkway", "Pkwy"), ("Grove", "Gr"),
];

/// Towns: (name, state). Postcodes are derived from the position, so a town keeps its code.
#[rustfmt::skip]
pub const TOWNS: &[(&str, &str)] = &[
    ("Springfield", "IL"), ("Riverside", "CA"), ("Franklin", "TN"), ("Greenville", "SC"),
    ("Fairview", "OR"), ("Madison", "WI"), ("Georgetown", "TX"), ("Salem", "MA"),
    ("Clinton", "IA"), ("Arlington", "VA"), ("Ashland", "KY"), ("Burlington", "VT"),
    ("Manchester", "NH"), ("Oxford", "MS"), ("Dover", "DE"), ("Auburn", "AL"), ("Milton", "PA"),
    ("Newport", "RI"), ("Bristol", "CT"), ("Kingston", "NY"), ("Clayton", "MO"),
    ("Dayton", "OH"), ("Lexington", "KY"), ("Hudson", "NY"), ("Marion", "IN"),
    ("Jackson", "MS"), ("Winchester", "VA"), ("Lancaster", "PA"), ("Columbia", "MD"),
    ("Chester", "PA"), ("Mount Vernon", "WA"), ("Pleasanton", "CA"), ("Bellevue", "WA"),
    ("Boulder", "CO"), ("Durango", "CO"), ("Flagstaff", "AZ"), ("Tempe", "AZ"),
    ("Santa Fe", "NM"), ("Las Cruces", "NM"), ("Reno", "NV"), ("Boise", "ID"),
    ("Missoula", "MT"), ("Bozeman", "MT"), ("Casper", "WY"), ("Fargo", "ND"),
    ("Sioux Falls", "SD"), ("Lincoln", "NE"), ("Wichita", "KS"), ("Tulsa", "OK"),
    ("Little Rock", "AR"), ("Shreveport", "LA"), ("Biloxi", "MS"), ("Mobile", "AL"),
    ("Savannah", "GA"), ("Macon", "GA"), ("Asheville", "NC"), ("Durham", "NC"),
    ("Charleston", "WV"), ("Roanoke", "VA"), ("Annapolis", "MD"), ("Trenton", "NJ"),
    ("Hoboken", "NJ"), ("Ithaca", "NY"), ("Albany", "NY"), ("Worcester", "MA"),
    ("Portland", "ME"), ("Bangor", "ME"), ("Montpelier", "VT"), ("Concord", "NH"),
    ("Hartford", "CT"), ("Providence", "RI"), ("Ann Arbor", "MI"), ("Kalamazoo", "MI"),
    ("Duluth", "MN"), ("Rochester", "MN"), ("Green Bay", "WI"), ("Peoria", "IL"),
    ("Evansville", "IN"), ("Toledo", "OH"), ("Akron", "OH"), ("Erie", "PA"), ("Scranton", "PA"),
    ("Knoxville", "TN"), ("Chattanooga", "TN"), ("Tallahassee", "FL"), ("Gainesville", "FL"),
    ("Sarasota", "FL"), ("Pensacola", "FL"), ("Galveston", "TX"), ("Amarillo", "TX"),
    ("El Paso", "TX"), ("Laredo", "TX"), ("Eugene", "OR"), ("Bend", "OR"), ("Spokane", "WA"),
    ("Olympia", "WA"), ("Fresno", "CA"), ("Modesto", "CA"), ("Santa Rosa", "CA"),
    ("Monterey", "CA"), ("San Mateo", "CA"), ("Chula Vista", "CA"), ("Provo", "UT"),
    ("Ogden", "UT"), ("Anchorage", "AK"), ("Juneau", "AK"), ("Hilo", "HI"), ("Kailua", "HI"),
];

/// US area codes in service, for phone numbers that normalize as valid.
#[rustfmt::skip]
pub const AREA_CODES: &[u16] = &[

    201, 202, 203, 205, 206, 207, 208, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229,
    231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302,
    303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 330,
    334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410,
    412, 413, 414, 415, 417, 419, 423, 424, 425, 432, 434, 435, 440, 443, 469, 478, 479, 480, 484,
    501, 502, 503, 504, 505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 540, 541,
    559, 561, 562, 563, 570, 571, 573, 574, 580, 585, 586, 601, 602, 603, 605, 606, 607, 608, 609,
    610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630, 631, 636, 641, 646, 650, 651, 660,
    661, 662, 678, 682, 701, 702, 703, 704, 706, 707, 708, 712, 713, 714, 715, 716, 717, 718, 719,
    720, 724, 727, 731, 732, 734, 740, 754, 757, 760, 763, 765, 770, 772, 773, 774, 775, 781, 785,
    786, 801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816, 817, 818, 828, 830, 831,
    832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860, 862, 863, 864, 865, 870, 901, 903, 904,
    906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918, 919, 920, 925, 928, 931, 936, 937,
    940, 941, 947, 949, 951, 952, 954, 956, 970, 971, 972, 973, 978, 979, 980, 985, 989,
];

/// E-mail domains (reserved or fictional).
#[rustfmt::skip]
pub const MAIL_DOMAINS: &[&str] = &[
    "example.com", "example.net", "example.org", "mail.example", "post.example",
    "inbox.example", "letterbox.example",
];
