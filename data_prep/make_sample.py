"""Generate docre's bundled sample dataset (``docre/resources/sample``).

Everything in the sample is invented by this script: person, town, country and company
names are composed from random syllables, and every "fact" holds only inside its own
document. Nothing is copied from DocRED or any other corpus; only the format (DocRED
JSON) and the relation ids/names (Wikidata properties used by DocRED) are shared.

The documents are built from a small world per document (a country, its capital, a
region, towns, people, companies, dates) and sentence templates. Each template states
zero or more *statements* (``born_in``, ``hq``, ``capital`` ...); the gold labels are
derived from the statements by fixed rules, with the evidence being the sentences
that state them (plus the antecedent sentence when a pronoun is used):

* ``in_region(t, r)``     -> t P131 r, r P150 t
* ``region_of(r, c)``     -> r P131 c, r P17 c, c P150 r
* ``capital(k, c)``       -> k P1376 c, k P17 c, c P36 k
* ``town_country(t, c)``  -> t P17 c
* ``born_in(p, x)`` -> P19, ``born_on(p, d)`` -> P569, ``works_for(p, o)`` -> P108,
  ``hq(o, x)`` -> P159, ``married(p, s)`` -> P26 both ways
* chains: a town in a region of a country gets P17 to the country; a company
  headquartered in a place whose country is known gets P17 to it (evidence: all the
  sentences of the chain). These are the inter-sentence facts.

Distractor sentences (visits, awards, floods, branch offices, lectures ...) put
entities together without any relation of the inventory (hard NA pairs).

Usage::

    python -m data_prep.make_sample --out docre/resources/sample

Standard library only; the output depends only on ``--seed`` (byte-identical reruns).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

DEFAULT_SEED = 20240611
N_TRAIN, N_DEV, N_TEST = 60, 20, 20

# DocRED relation ids (Wikidata properties) with their names, in P-number order.
RELATIONS: list[tuple[str, str]] = [
    ("P17", "country"),
    ("P19", "place of birth"),
    ("P26", "spouse"),
    ("P36", "capital"),
    ("P108", "employer"),
    ("P131", "located in the administrative territorial entity"),
    ("P150", "contains administrative territorial entity"),
    ("P159", "headquarters location"),
    ("P569", "date of birth"),
    ("P1376", "capital of"),
]

MIN_SENT_WORDS, MAX_SENT_WORDS = 8, 25
MIN_DOC_WORDS, MAX_DOC_WORDS = 60, 150
MIN_SENTS, MAX_SENTS = 3, 7

# ----------------------------------------------------------------------------- names
ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p",
          "r", "s", "sk", "st", "t", "tr", "v", "z", "th", "j", "y", "w", "c", "gl"]
NUCLEI = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou", "ae", "ya"]
CODAS = ["n", "r", "l", "s", "m", "th", "k", "nd", "rn", "sk", "v", "x", "z", "t"]
FIRST_ENDINGS = ["", "", "a", "o", "in", "el", "is", "ar", "ine", "ek"]
SURNAME_ENDINGS = ["", "", "ar", "en", "ov", "ell", "ani", "ek", "ith", "ane", "oss"]
TOWN_ENDINGS = ["", "holm", "mar", "vik", "dun", "ora", "ith", "wick", "stad", "grad", "ness"]
COUNTRY_ENDINGS = ["ia", "ora", "and", "esh", "ica", "aria", "ovia", "istan", "ania"]
REGION_KINDS = ["Province", "District", "County"]
COMPANY_SUFFIXES = ["Company", "Group", "Works", "Corporation", "Holdings"]
# industry adjective (used in sentences) -> word used inside company names
INDUSTRIES = {
    "mining": "Mining", "shipping": "Shipping", "textile": "Textiles", "software": "Software",
    "chemical": "Chemicals", "food": "Foods", "rail": "Rail", "glass": "Glass",
    "paper": "Paper", "energy": "Energy", "printing": "Printing", "machine": "Machinery",
}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
# Generated words that happen to be real names or common English words are skipped.
BLOCKLIST = {
    "paris", "maria", "mario", "roma", "rome", "lima", "kara", "tokyo", "berlin", "delhi",
    "dublin", "madrid", "milan", "moscow", "boston", "london", "israel", "india", "iran",
    "kenya", "chad", "mali", "oman", "peru", "cuba", "togo", "niger", "samoa", "tonga",
    "libya", "syria", "malta", "nepal", "yemen", "gabon", "benin", "china", "korea",
    "dora", "nora", "vera", "lena", "tina", "gina", "nina", "mona", "rosa", "sara", "linda",
    "hello", "money", "honey", "moral", "metal", "total", "focal", "vocal", "local", "nasal",
    "tomato", "potato", "banana", "panama", "canada", "kansas", "texas", "bolivia",
    "serbia", "zambia", "gambia", "latvia", "armenia", "romania", "albania", "tanzania",
    "slovenia", "slovakia", "austria", "algeria", "nigeria", "liberia", "siberia",
    "kazakhstan", "pakistan", "tajikistan", "hindustan", "daghestan", "finland", "poland",
    "ireland", "iceland", "holland", "thailand", "lapland", "england", "scotland",
    "bangladesh", "america", "africa", "jamaica", "dominica", "corsica", "costarica",
    "bulgaria", "hungaria", "bavaria", "samaria", "victoria", "gloria", "dakota",
    "sonora", "zamora", "pandora", "andorra", "aurora", "angora", "fedora", "sarajevo",
    "moldova", "nova", "java", "bali", "fiji", "guam", "laos", "lyon", "nice", "bern",
    "oslo", "kiev", "riga", "baku", "doha", "rabat", "tunis", "accra", "dakar", "sofia",
    "size", "litre", "liter", "meter", "metre", "lover", "never", "tower", "power", "water",
    "river", "silver", "paper", "tiger", "sober", "mister", "sister", "winter", "bonus",
    "warsaw", "prague", "vienna", "athens", "ankara", "cairo", "seoul", "hanoi", "manila",
}

LEX = {
    "prof": ["chemist", "engineer", "painter", "historian", "architect", "economist",
             "surgeon", "novelist", "geologist", "composer", "lawyer", "journalist",
             "botanist", "sculptor", "physicist", "linguist"],
    "prof_pl": ["farmers", "teachers", "fishermen", "merchants", "weavers", "carpenters",
                "bakers", "sailors"],
    "job": ["designer", "accountant", "researcher", "manager", "technician", "analyst",
            "translator", "planner", "inspector", "programmer"],
    "dept": ["research", "finance", "design", "sales", "planning", "legal"],
    "field": ["river ecology", "medieval trade", "bridge design", "folk music",
              "soil chemistry", "public finance", "coastal mapping", "early printing",
              "glacier physics", "urban planning", "bird migration", "old coins"],
    "product": ["wool", "pottery", "cheese", "timber", "olive oil", "glassware", "salt",
                "copper", "honey", "leather goods", "wine", "paper"],
    "dir": ["north", "south", "east", "west", "north-east", "south-west"],
    "event": ["trade fair", "music festival", "science congress", "chess tournament",
              "book fair", "film festival", "medical conference"],
}

# ----------------------------------------------------------------------------- templates
# Each template: (text, statements). Slots: {role} an entity mention, {w:key} a word from
# LEX, {on:role} "on"/"in" before a date/year, {He} {he} {His} {his} pronouns of role p,
# {spouse:role} wife/husband for that role's gender, {o.ind} the company's industry.
# Statements are (kind, role, role). Pools named "pron_*" start with a pronoun (or a
# phrase like "The company") that refers to the subject of the previous sentence.
T = tuple[str, list[tuple[str, str, str]]]

POOLS: dict[str, list[T]] = {
    "intro_person": [
        ("{p} is a {w:prof} known for {his} work on {w:field} .", []),
        ("{p} is a {w:prof} who has written several books on {w:field} .", []),
        ("{p} is a {m} {w:prof} and a respected expert on {w:field} .", []),
        ("{p} is best known as a {w:prof} and a teacher of {w:field} .", []),
        ("The {m} {w:prof} {p} has spent most of {his} career studying {w:field} .", []),
    ],
    "intro_person_born": [
        ("{p} ( born {d} in {x} ) is a {w:prof} known for {his} work on {w:field} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("Born in {x} {on:d} {d} , {p} became a {w:prof} and later a teacher .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{p} , who was born in {x} {on:d} {d} , is a {m} {w:prof} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{On:d} {d} , {p} was born in {x} , the second of three children .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
    ],
    "intro_person_date": [
        ("{p} ( born {d} ) is a {w:prof} known for {his} work on {w:field} .",
         [("born_on", "p", "d")]),
        ("{p} , born {on:d} {d} , is a {w:prof} who studied {w:field} .",
         [("born_on", "p", "d")]),
        ("{p} was born {on:d} {d} and trained as a {w:prof} at a small college .",
         [("born_on", "p", "d")]),
        ("The {w:prof} {p} was born {on:d} {d} into a family of {w:prof_pl} .",
         [("born_on", "p", "d")]),
    ],
    "pron_born_place": [
        ("{He} was born in {x} and went to school there .", [("born_in", "p", "x")]),
        ("{He} was born in {x} , where {he} spent {his} early childhood .", [("born_in", "p", "x")]),
        ("{His} birthplace is {x} , which {he} left as a young adult .", [("born_in", "p", "x")]),
        ("{He} grew up in {x} , where {he} had been born in a small house .", [("born_in", "p", "x")]),
    ],
    "pron_born_both": [
        ("{He} was born in {x} {on:d} {d} to a family of {w:prof_pl} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{He} was born {on:d} {d} in {x} , where {he} later taught {w:field} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{His} birth {on:d} {d} in {x} was recorded in the local register .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{He} was born in {x} {on:d} {d} and grew up near the harbour .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
    ],
    "born_place": [
        ("{p} was born in {x} , where {he} spent {his} early childhood .", [("born_in", "p", "x")]),
        ("{x} is the birthplace of {p} , who grew up there before moving away .", [("born_in", "p", "x")]),
        ("{p} , a native of {x} , studied {w:field} as a young student .", [("born_in", "p", "x")]),
        ("Born in {x} , {p} showed an early interest in {w:field} .", [("born_in", "p", "x")]),
    ],
    "born_both": [
        ("{p} was born in {x} {on:d} {d} to a family of {w:prof_pl} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{p} was born {on:d} {d} in {x} and later studied {w:field} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{x} is the birthplace of {p} , who was born there {on:d} {d} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
        ("{p} , who was born in {x} {on:d} {d} , trained as a {w:prof} .",
         [("born_in", "p", "x"), ("born_on", "p", "d")]),
    ],
    "born_date": [
        ("{p} was born {on:d} {d} and studied {w:field} at a local college .", [("born_on", "p", "d")]),
        ("The birth of {p} {on:d} {d} was noted in the town records .", [("born_on", "p", "d")]),
        ("{p} , born {on:d} {d} , later became a {w:prof} .", [("born_on", "p", "d")]),
        ("{On:d} {d} , {p} was born into a family of {w:prof_pl} .", [("born_on", "p", "d")]),
    ],
    "works_for": [
        ("{p} joined {o} in {y} and worked there as a {w:job} for many years .", [("works_for", "p", "o")]),
        ("In {y} , {p} was hired by {o} as its chief {w:job} .", [("works_for", "p", "o")]),
        ("{o} has employed {p} as a senior {w:job} since {y} .", [("works_for", "p", "o")]),
        ("{p} works as a {w:job} at {o} , where {he} leads a small team .", [("works_for", "p", "o")]),
        ("{p} is an employee of {o} and specialises in {w:field} .", [("works_for", "p", "o")]),
        ("Since {y} , {p} has been working for {o} as a {w:job} .", [("works_for", "p", "o")]),
    ],
    "pron_works_for": [
        ("{He} later took a position as a {w:job} at {o} .", [("works_for", "p", "o")]),
        ("{He} has worked for {o} since {y} as a {w:job} .", [("works_for", "p", "o")]),
        ("In {y} , {he} was hired by {o} as a {w:job} .", [("works_for", "p", "o")]),
        ("{He} is currently employed by {o} in its {w:dept} department .", [("works_for", "p", "o")]),
    ],
    "works_for_two": [
        ("{p} and {q} both work for {o} , in different departments .",
         [("works_for", "p", "o"), ("works_for", "q", "o")]),
        ("{o} employs {p} as a {w:job} and {q} as a {w:job} .",
         [("works_for", "p", "o"), ("works_for", "q", "o")]),
        ("Among the staff of {o} are {p} and {q} , both trained in {w:field} .",
         [("works_for", "p", "o"), ("works_for", "q", "o")]),
        ("{p} and {q} were hired by {o} in {y} .",
         [("works_for", "p", "o"), ("works_for", "q", "o")]),
    ],
    "married": [
        ("{p} married {s} in {y} , and the couple settled in a quiet village .", [("married", "p", "s")]),
        ("In {y} , {p} and {s} were married in a small ceremony .", [("married", "p", "s")]),
        ("{p} is married to {s} , a {w:prof} whom {he} met at university .", [("married", "p", "s")]),
        ("{s} , the {spouse:s} of {p} , works as a {w:prof} .", [("married", "p", "s")]),
        ("{p} 's spouse , {s} , is a well known {w:prof} .", [("married", "p", "s")]),
    ],
    "pron_married": [
        ("{He} married {s} in {y} after a long engagement .", [("married", "p", "s")]),
        ("{He} is married to {s} , a {w:prof} .", [("married", "p", "s")]),
        ("{His} {spouse:s} is {s} , whom {he} met in {y} .", [("married", "p", "s")]),
        ("In {y} , {he} married {s} , a fellow {w:prof} .", [("married", "p", "s")]),
    ],
    "intro_company": [
        ("{o} is a {o.ind} company that was founded in {y} .", []),
        ("{o} , founded in {y} , makes {w:product} for export .", []),
        ("{o} is a {o.ind} firm with about {n} employees .", []),
        ("{o} was established in {y} by a group of young engineers .", []),
    ],
    "hq": [
        ("{o} is a {o.ind} company headquartered in {x} .", [("hq", "o", "x")]),
        ("The headquarters of {o} are located in {x} , near the old harbour .", [("hq", "o", "x")]),
        ("{x} is home to the head office of {o} , a {o.ind} firm .", [("hq", "o", "x")]),
        ("{o} moved its headquarters to {x} in {y} after a period of growth .", [("hq", "o", "x")]),
        ("Based in {x} , {o} sells {w:product} to customers across the region .", [("hq", "o", "x")]),
        ("{o} has had its headquarters in {x} since {y} .", [("hq", "o", "x")]),
    ],
    "pron_hq": [
        ("It is headquartered in {x} and employs about {n} people .", [("hq", "o", "x")]),
        ("Its head office is located in {x} , near the main station .", [("hq", "o", "x")]),
        ("The company is headquartered in {x} , close to the river .", [("hq", "o", "x")]),
        ("It moved its headquarters to {x} in {y} .", [("hq", "o", "x")]),
    ],
    "intro_country": [
        ("{c} is a small country with a population of about {n} .", []),
        ("{c} is a mountainous country known for its {w:product} and its lakes .", []),
        ("{c} became an independent country in {y} after a long dispute .", []),
        ("{c} is a country with a long coastline and a mild climate .", []),
    ],
    "capital": [
        ("{k} is the capital of {c} and its largest city .", [("capital", "k", "c")]),
        ("The capital of {c} is {k} , a city of old bridges .", [("capital", "k", "c")]),
        ("{c} moved its capital to {k} in {y} .", [("capital", "k", "c")]),
        ("{k} , the capital city of {c} , hosts the national parliament .", [("capital", "k", "c")]),
        ("The government of {c} sits in {k} , the national capital .", [("capital", "k", "c")]),
    ],
    "pron_capital": [
        ("Its capital is {k} , a city known for its {w:product} .", [("capital", "k", "c")]),
        ("Its capital and largest city is {k} .", [("capital", "k", "c")]),
        ("The country 's capital is {k} , on the banks of a wide river .", [("capital", "k", "c")]),
        ("Its seat of government is the capital city , {k} .", [("capital", "k", "c")]),
    ],
    "region_of": [
        ("{r} is one of the regions of {c} , bordering the sea .", [("region_of", "r", "c")]),
        ("{c} is divided into several regions , including {r} .", [("region_of", "r", "c")]),
        ("{r} is an administrative region in the {w:dir} of {c} .", [("region_of", "r", "c")]),
        ("{r} , a region in the {w:dir} of {c} , is known for its {w:product} .", [("region_of", "r", "c")]),
    ],
    "pron_region_of": [
        ("It is divided into several regions , among them {r} .", [("region_of", "r", "c")]),
        ("One of its regions is {r} , in the {w:dir} of the country .", [("region_of", "r", "c")]),
        ("The country includes {r} , a region known for its {w:product} .", [("region_of", "r", "c")]),
        ("Its largest region is {r} , which lies in the {w:dir} .", [("region_of", "r", "c")]),
    ],
    "in_region": [
        ("{t} is a small town in {r} , known for its {w:product} .", [("in_region", "t", "r")]),
        ("{t} lies in {r} , on the banks of a slow river .", [("in_region", "t", "r")]),
        ("{r} includes the town of {t} and several smaller villages .", [("in_region", "t", "r")]),
        ("The town of {t} is located in {r} , close to the hills .", [("in_region", "t", "r")]),
        ("Among the towns of {r} is {t} , famous for its {w:product} .", [("in_region", "t", "r")]),
    ],
    "in_region_two": [
        ("{r} includes the towns of {t} and {t2} , as well as several villages .",
         [("in_region", "t", "r"), ("in_region", "t2", "r")]),
        ("{t} and {t2} are two market towns in {r} .",
         [("in_region", "t", "r"), ("in_region", "t2", "r")]),
        ("The towns of {t} and {t2} both lie in {r} .",
         [("in_region", "t", "r"), ("in_region", "t2", "r")]),
        ("{r} contains {t} , its largest town , and the smaller {t2} .",
         [("in_region", "t", "r"), ("in_region", "t2", "r")]),
    ],
    "town_country": [
        ("{t} is a town in the {w:dir} of {c} , near the coast .", [("town_country", "t", "c")]),
        ("The town of {t} lies in the {w:dir} of {c} .", [("town_country", "t", "c")]),
        ("{t} is a coastal town in {c} with a busy fishing port .", [("town_country", "t", "c")]),
        ("{c} counts {t} among its oldest and most visited towns .", [("town_country", "t", "c")]),
    ],
    # ------------------------------------------------------------ distractors (no facts)
    "d_visit": [
        ("{p} visited {x} in {y} to attend a {w:event} .", []),
        ("In {y} , {p} travelled to {x} for a {w:event} .", []),
        ("{p} spent the summer of {y} in {x} studying {w:field} .", []),
        ("{p} moved to {x} in {y} and lived there for a decade .", []),
    ],
    "d_meet": [
        ("{p} met {q} at a {w:event} in {x} in {y} .", []),
        ("In {y} , {p} and {q} gave a joint lecture in {x} .", []),
        ("{q} , a rival of {p} , published a book about {w:field} in {y} .", []),
        ("{p} and {q} wrote a short study of {w:field} together .", []),
    ],
    "d_award": [
        ("{p} received the {a} in {y} for {his} work on {w:field} .", []),
        ("In {y} , {p} was awarded the {a} by a panel of experts .", []),
        ("The {a} was given to {p} in {y} .", []),
        ("{p} was nominated for the {a} twice but never won it .", []),
    ],
    "d_rival": [
        ("{p} once gave a lecture at {o} about {w:field} .", []),
        ("{p} has criticised {o} for its treatment of workers .", []),
        ("{p} turned down a job offer from {o} in {y} .", []),
        ("In {y} , {p} wrote a critical report on {o} and its products .", []),
    ],
    "d_branch": [
        ("{o} opened a branch office in {x} in {y} .", []),
        ("In {y} , {o} built a new factory in {x} .", []),
        ("{o} sells most of its {w:product} in {x} .", []),
        ("{o} closed its warehouse in {x} in {y} after a fire .", []),
    ],
    "d_event": [
        ("In {y} , a severe flood damaged many houses in {x} .", []),
        ("A large fire destroyed the old market of {x} in {y} .", []),
        ("{x} hosted the national {w:event} in {y} .", []),
        ("In {y} , a new bridge was opened in {x} .", []),
    ],
    "d_treaty": [
        ("{c} and {c2} signed a trade agreement in {y} .", []),
        ("In {y} , {c} went to war with neighbouring {c2} .", []),
        ("Relations between {c} and {c2} improved after {y} .", []),
        ("{c} imports most of its {w:product} from {c2} .", []),
    ],
    "d_festival": [
        ("Every summer , {x} hosts the {f} , which attracts many visitors .", []),
        ("The {f} has been held in {x} every year since {y} .", []),
        ("Thousands of visitors come to {x} each spring for the {f} .", []),
        ("The first {f} took place in {x} in {y} .", []),
    ],
    "d_population": [
        ("{x} has a population of about {n} people .", []),
        ("About {n} people lived in {x} in {y} .", []),
        ("The population of {x} grew to {n} by {y} .", []),
        ("In {y} , a census counted {n} residents in {x} .", []),
    ],
    "d_staff": [
        ("In {y} , {o} had about {n} employees .", []),
        ("{o} employs around {n} people in total .", []),
        ("By {y} , the workforce of {o} had grown to {n} .", []),
        ("{o} reported sales of {n} units in {y} .", []),
    ],
}
# For pronoun pools: the role the pronoun refers to (it must be mentioned in the
# previous sentence).
PRON_TOPIC = {
    "pron_born_place": "p", "pron_born_both": "p", "pron_works_for": "p", "pron_married": "p",
    "pron_hq": "o", "pron_capital": "c", "pron_region_of": "c",
}


# ----------------------------------------------------------------------------- model
@dataclass(eq=False)
class Ent:
    type: str
    full: str
    short: Optional[str] = None      # a later-mention alias (surname, acronym)
    acronym: bool = False            # short is introduced as "( ACR )" after the first mention
    gender: str = ""                 # "m"/"f" for persons
    ind: str = ""                    # industry adjective for companies
    is_year: bool = False            # TIME: a bare year (vs. a full date)
    introduced: bool = False
    mentions: list = field(default_factory=list)  # (sent_id, start, end, name)


@dataclass
class Spec:
    """One sentence to render: a template with its role bindings."""

    pool: str
    text: str
    stmts: list
    roles: dict


class Namer:
    """Invents words from syllables; never returns the same word twice."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def _stem(self, n_syll: int, coda: bool) -> str:
        r = self.rng
        parts = []
        for i in range(n_syll):
            onset = r.choice(ONSETS) if (i > 0 or r.random() < 0.85) else ""
            parts.append(onset + r.choice(NUCLEI))
        if coda:
            parts.append(r.choice(CODAS))
        return "".join(parts)

    def fresh(self, make) -> str:
        for _ in range(10000):
            w = make()
            lw = w.lower()
            if 4 <= len(w) <= 11 and lw not in self.used and lw not in BLOCKLIST and "yy" not in lw \
                    and not any(lw.startswith(b) for b in ("fuck", "shit", "cunt", "nig")):
                self.used.add(lw)
                return w[0].upper() + w[1:]
        raise RuntimeError("name space exhausted")

    def first(self) -> str:
        return self.fresh(lambda: self._stem(2, self.rng.random() < 0.4) + self.rng.choice(FIRST_ENDINGS))

    def surname(self) -> str:
        return self.fresh(lambda: self._stem(self.rng.choice([2, 2, 3]), self.rng.random() < 0.5)
                          + self.rng.choice(SURNAME_ENDINGS))

    def town(self) -> str:
        return self.fresh(lambda: self._stem(2, self.rng.random() < 0.6) + self.rng.choice(TOWN_ENDINGS))

    def stem(self) -> str:
        return self.fresh(lambda: self._stem(2, True))

    def country_stem(self) -> str:
        return self.fresh(lambda: self._stem(2, True))


class World:
    """The entities of one document, created on demand."""

    def __init__(self, rng: random.Random, namer: Namer):
        self.rng, self.namer = rng, namer
        self.years: dict[str, Ent] = {}
        self.acronyms: set[str] = set()

    def person(self) -> Ent:
        first, sur = self.namer.first(), self.namer.surname()
        return Ent("PER", f"{first} {sur}", short=sur, gender=self.rng.choice("mf"))

    def company(self, acronym: Optional[bool] = None) -> Ent:
        ind = self.rng.choice(sorted(INDUSTRIES))
        for _ in range(100):
            name = f"{self.namer.stem()} {INDUSTRIES[ind]} {self.rng.choice(COMPANY_SUFFIXES)}"
            acr = "".join(w[0] for w in name.split())
            if acr not in self.acronyms:
                break
        self.acronyms.add(acr)
        use_acr = self.rng.random() < 0.75 if acronym is None else acronym
        return Ent("ORG", name, short=acr if use_acr else None, acronym=use_acr, ind=ind)

    def country(self) -> tuple[Ent, Ent]:
        """A country and its demonym (MISC)."""
        stem = self.namer.country_stem()
        name = stem + self.rng.choice(COUNTRY_ENDINGS)
        self.namer.used.add(name.lower())
        demonym = name + "n" if name.endswith("a") else name + "i"
        return Ent("LOC", name), Ent("MISC", demonym)

    def town(self) -> Ent:
        return Ent("LOC", self.namer.town())

    def region(self) -> Ent:
        return Ent("LOC", f"{self.namer.stem()} {self.rng.choice(REGION_KINDS)}")

    def award(self) -> Ent:
        return Ent("MISC", f"{self.namer.stem()} {self.rng.choice(['Prize', 'Medal', 'Award'])}")

    def festival(self) -> Ent:
        return Ent("MISC", f"{self.namer.stem()} {self.rng.choice(['Festival', 'Fair', 'Games'])}")

    def year(self, lo: int, hi: int) -> Ent:
        y = str(self.rng.randint(lo, hi))
        if y not in self.years:
            self.years[y] = Ent("TIME", y, is_year=True)
        return self.years[y]

    def birth_date(self) -> Ent:
        if self.rng.random() < 0.3:
            return self.year(1920, 1965)
        d = f"{self.rng.randint(1, 28)} {self.rng.choice(MONTHS)} {self.rng.randint(1920, 1965)}"
        return Ent("TIME", d)

    def number(self, large: bool = False) -> Ent:
        """A NUM: a head count (small) or a population (``large``)."""
        r = self.rng
        if large:
            n = r.choice([f"{r.randint(2, 99)},{r.randint(0, 999):03d}", f"{r.randint(1, 9)}.{r.randint(1, 9)} million"])
        else:
            n = r.choice([f"{r.randint(1, 9)},{r.randint(0, 999):03d}", f"{r.randint(12, 950)}"])
        return Ent("NUM", n)


# ----------------------------------------------------------------------------- rendering
class Renderer:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.sents: list[list[str]] = []
        self.statements: list[tuple[str, Ent, Ent, frozenset]] = []
        self.order: list[Ent] = []  # entities in order of first mention

    def _mention(self, ent: Ent, words: list[str]) -> None:
        sid = len(self.sents)
        text = ent.full
        if ent.introduced and ent.short and self.rng.random() < 0.8:
            text = ent.short
        start = len(words)
        words.extend(text.split())
        ent.mentions.append((sid, start, len(words), text))
        if not ent.introduced and ent.acronym:
            words.append("(")
            s2 = len(words)
            words.append(ent.short)
            ent.mentions.append((sid, s2, s2 + 1, ent.short))
            words.append(")")
        if not ent.introduced:
            self.order.append(ent)
        ent.introduced = True

    def add(self, spec: Spec, pronoun_topic: Optional[str]) -> None:
        sid = len(self.sents)
        roles = spec.roles
        words: list[str] = []
        for tok in spec.text.split():
            if not (tok.startswith("{") and tok.endswith("}")):
                words.append(tok)
                continue
            key = tok[1:-1]
            if key.startswith("w:"):
                words.extend(self.rng.choice(LEX[key[2:]]).split())
            elif key.lower().startswith("on:"):
                w = "in" if roles[key[3:]].is_year else "on"
                words.append(w.capitalize() if key[0] == "O" else w)
            elif key.startswith("spouse:"):
                words.append("wife" if roles[key[7:]].gender == "f" else "husband")
            elif key == "o.ind":
                words.append(roles["o"].ind)
            elif key in ("He", "he", "His", "his"):
                f = roles["p"].gender == "f"
                w = {"he": "she" if f else "he", "his": "her" if f else "his"}[key.lower()]
                words.append(w.capitalize() if key[0] == "H" else w)
            else:
                self._mention(roles[key], words)
        for i in range(len(words) - 1):  # a/an before the following word
            if words[i] in ("a", "an"):
                words[i] = "an" if words[i + 1][:1].lower() in "aeiou" else "a"
        evidence = {sid}
        if pronoun_topic is not None:
            topic = roles[pronoun_topic]
            assert any(m[0] == sid - 1 for m in topic.mentions), (spec.text, "antecedent missing")
            evidence.add(sid - 1)
        for kind, a, b in spec.stmts:
            self.statements.append((kind, roles[a], roles[b], frozenset(evidence)))
        self.sents.append(words)


def derive_facts(statements) -> dict[tuple[Ent, Ent, str], frozenset]:
    """Gold labels from statements (see the module docstring)."""
    facts: dict[tuple[Ent, Ent, str], frozenset] = {}

    def add(h: Ent, t: Ent, r: str, ev: frozenset) -> None:
        facts.setdefault((h, t, r), ev)

    country_of: dict[Ent, tuple[Ent, frozenset]] = {}
    region_of_town: dict[Ent, tuple[Ent, frozenset]] = {}
    hqs = []
    for kind, a, b, ev in statements:
        if kind == "born_in":
            add(a, b, "P19", ev)
        elif kind == "born_on":
            add(a, b, "P569", ev)
        elif kind == "works_for":
            add(a, b, "P108", ev)
        elif kind == "hq":
            add(a, b, "P159", ev)
            hqs.append((a, b, ev))
        elif kind == "married":
            add(a, b, "P26", ev)
            add(b, a, "P26", ev)
        elif kind == "in_region":
            add(a, b, "P131", ev)
            add(b, a, "P150", ev)
            region_of_town[a] = (b, ev)
        elif kind == "region_of":
            add(a, b, "P131", ev)
            add(a, b, "P17", ev)
            add(b, a, "P150", ev)
            country_of[a] = (b, ev)
        elif kind == "capital":
            add(a, b, "P1376", ev)
            add(a, b, "P17", ev)
            add(b, a, "P36", ev)
            country_of[a] = (b, ev)
        elif kind == "town_country":
            add(a, b, "P17", ev)
            country_of[a] = (b, ev)
        else:  # pragma: no cover - a typo in a template
            raise ValueError(kind)
    for town, (region, ev) in region_of_town.items():
        if region in country_of and town not in country_of:
            c, ev2 = country_of[region]
            add(town, c, "P17", ev | ev2)
            country_of[town] = (c, ev | ev2)
    for org, place, ev in hqs:
        if place in country_of:
            c, ev2 = country_of[place]
            add(org, c, "P17", ev | ev2)
    return facts


# ----------------------------------------------------------------------------- planning
class Planner:
    """Chooses the blocks (groups of consecutive sentences) of one document."""

    def __init__(self, rng: random.Random, namer: Namer):
        self.rng = rng
        self.w = World(rng, namer)

    def spec(self, pool: str, **roles) -> Spec:
        choices = POOLS[pool]
        # only templates whose entity slots are all bound
        ok = [t for t in choices if all(r in roles for r in _slots(t[0]))]
        text, stmts = self.rng.choice(ok)
        return Spec(pool, text, stmts, roles)

    def geo_of(self, place: Ent, ctx: dict) -> list[list[Spec]]:
        """Blocks that locate ``place`` (a town or a capital) in ctx's country."""
        r, w = self.rng, self.w
        c = ctx["c"]
        if place is ctx.get("k"):
            return [[self.spec("capital", k=place, c=c, y=w.year(1800, 1990))]]
        if r.random() < 0.65:
            reg = ctx.setdefault("r", w.region())
            if r.random() < 0.35:
                t2 = w.town()
                first = self.spec("in_region_two", t=place, t2=t2, r=reg)
            else:
                first = self.spec("in_region", t=place, r=reg)
            return [[first], [self.spec("region_of", r=reg, c=c)]]
        return [[self.spec("town_country", t=place, c=c)]]

    def distractor(self, ctx: dict, kinds: list[str]) -> list[Spec]:
        r, w = self.rng, self.w
        used = ctx.setdefault("used_distractors", set())
        kind = r.choice([k for k in kinds if k not in used])
        used.add(kind)
        y = w.year(1985, 2022)
        if kind == "d_visit":
            return [self.spec(kind, p=ctx["p"], x=ctx.get("x2") or ctx.setdefault("x2", w.town()), y=y)]
        if kind == "d_meet":
            q = ctx.setdefault("q", w.person())
            return [self.spec(kind, p=ctx["p"], q=q, x=ctx.setdefault("x2", w.town()), y=y)]
        if kind == "d_award":
            return [self.spec(kind, p=ctx["p"], a=w.award(), y=y)]
        if kind == "d_rival":
            return [self.spec(kind, p=ctx["p"], o=ctx.setdefault("o2", w.company()), y=y)]
        if kind == "d_branch":
            o = ctx.get("o2") or ctx.get("o") or ctx.setdefault("o2", w.company())
            place = r.choice([p for p in (ctx.get("t"), ctx.get("k"), ctx.get("x2")) if p] or [w.town()])
            return [self.spec(kind, o=o, x=place, y=y)]
        if kind == "d_event":
            place = r.choice([p for p in (ctx.get("t"), ctx.get("k"), ctx.get("x")) if p] or [w.town()])
            return [self.spec(kind, x=place, y=y)]
        if kind == "d_treaty":
            c2 = ctx.setdefault("c2", w.country()[0])
            return [self.spec(kind, c=ctx["c"], c2=c2, y=y)]
        if kind == "d_festival":
            place = r.choice([p for p in (ctx.get("t"), ctx.get("k"), ctx.get("x")) if p] or [w.town()])
            return [self.spec(kind, x=place, f=w.festival(), y=y)]
        if kind == "d_population":
            place = r.choice([p for p in (ctx.get("t"), ctx.get("k"), ctx.get("c")) if p])
            return [self.spec(kind, x=place, n=w.number(large=True), y=y)]
        if kind == "d_staff":
            return [self.spec(kind, o=ctx["o"], n=w.number(), y=y)]
        raise ValueError(kind)

    # --- document kinds: each returns (title entity, first block, other blocks)
    def bio(self):
        r, w = self.rng, self.w
        p = w.person()
        c, dem = w.country()
        ctx: dict = {"p": p, "c": c}
        capital_born = r.random() < 0.3
        if capital_born:
            ctx["k"] = w.town()
        x = ctx["k"] if capital_born else w.town()
        ctx["x"] = x
        if not capital_born:
            ctx["t"] = x
        d = w.birth_date()
        style = r.random()
        if style < 0.35:
            first = [self.spec("intro_person_born", p=p, x=x, d=d, m=dem)]
        elif style < 0.7:
            first = [self.spec("intro_person", p=p, m=dem),
                     self.spec("pron_born_both", p=p, x=x, d=d)]
        else:
            first = [self.spec("intro_person_date", p=p, d=d),
                     self.spec("pron_born_place", p=p, x=x)]
        blocks: list[list[Spec]] = []
        if r.random() < 0.75:
            o = ctx["o"] = w.company()
            blocks.append([self.spec("works_for", p=p, o=o, y=w.year(1985, 2022))])
            if r.random() < 0.4:
                blocks[-1].append(self.spec("hq", o=o, x=r.choice([x, w.town()]), y=w.year(1900, 2015)))
        if r.random() < 0.6:
            s = w.person()
            blocks.append([self.spec("married", p=p, s=s, y=w.year(1985, 2022))])
            if r.random() < 0.4:
                pool = r.choice(["born_both", "born_place", "born_date"])
                blocks.append([self.spec(pool, p=s, x=w.town(), d=w.birth_date())])
        if r.random() < 0.85:
            blocks.extend(self.geo_of(x, ctx))
        for _ in range(r.choice([1, 1, 2])):
            blocks.append(self.distractor(ctx, ["d_visit", "d_meet", "d_award", "d_rival", "d_event",
                                                "d_festival", "d_treaty"]))
        return p, first, blocks

    def geo(self):
        r, w = self.rng, self.w
        c, dem = w.country()
        k = w.town()
        ctx: dict = {"c": c, "k": k}
        y = w.year(1700, 1995)
        style = r.random()
        if style < 0.4:
            first = [self.spec("intro_country", c=c, y=y, n=w.number(large=True)),
                     self.spec("pron_capital", c=c, k=k)]
        elif style < 0.65:
            first = [self.spec("capital", c=c, k=k, y=y)]
        else:
            ctx["r"] = w.region()
            first = [self.spec("intro_country", c=c, y=y, n=w.number(large=True)),
                     self.spec("pron_region_of", c=c, r=ctx["r"])]
        blocks: list[list[Spec]] = []
        if "r" in ctx and r.random() < 0.7:
            blocks.append([self.spec("capital", c=c, k=k, y=w.year(1700, 1995))])
        reg = ctx.setdefault("r", w.region())
        t = ctx["t"] = w.town()
        if r.random() < 0.4:
            blocks.append([self.spec("in_region_two", t=t, t2=w.town(), r=reg)])
        else:
            blocks.append([self.spec("in_region", t=t, r=reg)])
        if not any(s.pool in ("pron_region_of",) for s in first):
            blocks.append([self.spec("region_of", r=reg, c=c)])
        if r.random() < 0.6:
            t3 = w.town()
            blocks.append([self.spec("town_country", t=t3, c=c)])
            ctx["x"] = t3
        if r.random() < 0.6:
            o = ctx["o"] = w.company()
            blocks.append([self.spec("hq", o=o, x=r.choice([t, k, ctx.get("x", t)]), y=w.year(1900, 2015))])
        if r.random() < 0.5:
            q = w.person()
            place = r.choice([t, k])
            if r.random() < 0.5:
                blocks.append([self.spec("born_both", p=q, x=place, d=w.birth_date())])
            else:
                blocks.append([self.spec("born_place", p=q, x=place)])
        for _ in range(r.choice([1, 2])):
            blocks.append(self.distractor(ctx, ["d_event", "d_treaty", "d_festival", "d_population"]))
        return c, first, blocks

    def company_doc(self):
        r, w = self.rng, self.w
        o = w.company(acronym=r.random() < 0.85)
        c, dem = w.country()
        ctx: dict = {"o": o, "c": c}
        k = ctx["k"] = w.town() if r.random() < 0.4 else None
        hq_place = k if k is not None and r.random() < 0.6 else w.town()
        if hq_place is not k:
            ctx["t"] = hq_place
        style = r.random()
        if style < 0.45:
            first = [self.spec("intro_company", o=o, y=w.year(1850, 2010), n=w.number()),
                     self.spec("pron_hq", o=o, x=hq_place, n=w.number(), y=w.year(1900, 2020))]
        else:
            first = [self.spec("hq", o=o, x=hq_place, y=w.year(1900, 2020))]
        blocks: list[list[Spec]] = []
        p = ctx["p"] = w.person()
        if r.random() < 0.5:
            q = ctx["q"] = w.person()
            blocks.append([self.spec("works_for_two", p=p, q=q, o=o, y=w.year(1985, 2022))])
        else:
            blocks.append([self.spec("works_for", p=p, o=o, y=w.year(1985, 2022))])
        if r.random() < 0.85:
            blocks.extend(self.geo_of(hq_place, ctx))
        extra = r.random()
        if extra < 0.35:
            blocks.append([self.spec("born_date", p=p, d=w.birth_date())])
        elif extra < 0.6:
            blocks.append([self.spec("married", p=p, s=w.person(), y=w.year(1985, 2022))])
        elif extra < 0.8:
            blocks.append([self.spec("born_place", p=p, x=w.town())])
        for _ in range(r.choice([1, 2])):
            blocks.append(self.distractor(ctx, ["d_staff", "d_branch", "d_rival", "d_award", "d_visit"]))
        return o, first, blocks


def _slots(text: str) -> list[str]:
    """Entity roles used by a template."""
    out = []
    for tok in text.split():
        if tok.startswith("{") and tok.endswith("}"):
            key = tok[1:-1]
            if key.startswith(("w:", "on:", "On:", "spouse:")) or key in ("He", "he", "His", "his", "o.ind"):
                continue
            out.append(key)
    return out


# ----------------------------------------------------------------------------- documents
def build_document(rng: random.Random, namer: Namer, kind: str) -> Optional[dict]:
    """One document, or None when the random plan falls outside the size limits."""
    planner = Planner(rng, namer)
    title_ent, first, blocks = {"bio": planner.bio, "geo": planner.geo, "company": planner.company_doc}[kind]()
    rng.shuffle(blocks)
    ordered = [first] + blocks
    specs = [s for b in ordered for s in b]
    if not MIN_SENTS <= len(specs) <= MAX_SENTS:
        return None
    rd = Renderer(rng)
    for spec in specs:
        topic = PRON_TOPIC.get(spec.pool)
        rd.add(spec, topic)
    n_words = sum(len(s) for s in rd.sents)
    if not MIN_DOC_WORDS <= n_words <= MAX_DOC_WORDS:
        return None
    if any(not MIN_SENT_WORDS <= len(s) <= MAX_SENT_WORDS for s in rd.sents):
        return None
    ents = rd.order
    index = {e: i for i, e in enumerate(ents)}
    for kind_, a, b, _ev in rd.statements:
        assert a in index and b in index, f"statement {kind_} about an entity never mentioned"
    facts = derive_facts(rd.statements)
    rel_order = {r: i for i, (r, _) in enumerate(RELATIONS)}
    labels = sorted(
        ({"h": index[h], "t": index[t], "r": r, "evidence": sorted(ev)} for (h, t, r), ev in facts.items()),
        key=lambda f: (f["h"], f["t"], rel_order[f["r"]]),
    )
    vertex_set = [
        [{"name": name, "sent_id": sid, "pos": [s, e], "type": ent.type} for sid, s, e, name in ent.mentions]
        for ent in ents
    ]
    return {"title": title_ent.full, "sents": rd.sents, "vertexSet": vertex_set, "labels": labels}


def generate(seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    """All three splits. ``test`` documents carry no ``labels`` key."""
    rng = random.Random(seed)
    namer = Namer(rng)
    splits: dict[str, list[dict]] = {}
    for split, n in (("train", N_TRAIN), ("dev", N_DEV), ("test", N_TEST)):
        kinds = (["bio", "geo", "company"] * (n // 3 + 1))[:n]
        rng.shuffle(kinds)
        docs = []
        for kind in kinds:
            doc = None
            while doc is None:
                doc = build_document(rng, namer, kind)
            if split == "test":
                del doc["labels"]
            docs.append(doc)
        splits[split] = docs
    titles = [d["title"] for docs in splits.values() for d in docs]
    assert len(titles) == len(set(titles)), "duplicate titles"
    return splits


def relations_json() -> dict:
    return {"ids": ["Na"] + [r for r, _ in RELATIONS], "names": dict(RELATIONS)}


def dumps_docs(docs: list[dict]) -> str:
    """A JSON list with one document per line (compact, diff-friendly)."""
    lines = [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in docs]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def stats(splits: dict[str, list[dict]]) -> str:
    lines = []
    for split, docs in splits.items():
        n_ent = sum(len(d["vertexSet"]) for d in docs)
        n_men = sum(len(e) for d in docs for e in d["vertexSet"])
        multi = sum(1 for d in docs for e in d["vertexSet"] if len(e) >= 2)
        words = [sum(len(s) for s in d["sents"]) for d in docs]
        line = (f"{split}: {len(docs)} docs, {n_ent} entities ({multi} with >=2 mentions), "
                f"{n_men} mentions, words/doc {min(words)}-{max(words)}")
        if docs and "labels" in docs[0]:
            rels = Counter(f["r"] for d in docs for f in d["labels"])
            pairs = Counter((i, f["h"], f["t"]) for i, d in enumerate(docs) for f in d["labels"])
            multi_label = sum(1 for v in pairs.values() if v >= 2)
            inter = 0
            for d in docs:
                vs = d["vertexSet"]
                for f in d["labels"]:
                    if not {m["sent_id"] for m in vs[f["h"]]} & {m["sent_id"] for m in vs[f["t"]]}:
                        inter += 1
            n_pairs = sum(len(d["vertexSet"]) * (len(d["vertexSet"]) - 1) for d in docs)
            line += (f", {sum(rels.values())} facts, {len(pairs)} positive pairs, {n_pairs - len(pairs)} NA pairs, "
                     f"{multi_label} multi-label pairs, {inter} inter-sentence facts\n    per relation: "
                     + ", ".join(f"{r}={rels[r]}" for r, _ in RELATIONS))
        lines.append(line)
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Write docre's invented DocRED-format sample dataset.")
    ap.add_argument("--out", default="docre/resources/sample", help="output directory")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--quiet", action="store_true", help="do not print statistics")
    args = ap.parse_args(argv)
    splits = generate(args.seed)
    out = Path(args.out)
    for split, docs in splits.items():
        _write(out / f"{split}.json", dumps_docs(docs))
    _write(out / "relations.json", json.dumps(relations_json(), indent=2, ensure_ascii=False) + "\n")
    if not args.quiet:
        print(stats(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
