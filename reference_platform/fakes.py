"""Fake but plausible personal data, organization names, message bodies and a product catalogue.

Emails use the reserved example.* domains. Message bodies never contain a contact's name, email or
phone, so an erased contact leaves no personal value behind in other tables.
"""

from __future__ import annotations

import random

from reference_platform.instances import Instance

FIRST_NAMES = (
    "Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Jack", "Chloe", "Lucas", "Emma",
    "Hugo", "Zoe", "Louis", "Grace", "Arthur", "Lily", "Jules", "Sofia", "Theo", "Aisha", "Omar",
    "Mei", "Wei", "Linh", "Minh", "Fatima", "Yusuf", "Anna", "Piotr", "Cerys", "Dylan", "Manon",
    "Gabriel", "Charlotte", "Raphael", "Ruby", "Harper", "Jasper", "Ines",
)
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Martin", "Bernard", "Dubois",
    "Thomas", "Robert", "Richard", "Petit", "Durand", "Nguyen", "Tran", "Chen", "Li", "Wang",
    "Kowalski", "Nowak", "Evans", "Davies", "Hughes", "Roberts", "Walker", "Lefebvre", "Moreau",
    "Laurent", "Simon", "Michel", "Garcia", "Haddad", "Kelly", "Murphy", "Campbell",
)
ORG_WORDS = (
    "Green", "Valley", "Harbour", "River", "Hill", "Meadow", "Coast", "Oak", "Market", "Sun",
    "Field", "Bay", "Stone", "Willow", "Orchard", "Bridge", "North", "South", "Lake", "Garden",
)
KIND_SUFFIX = {
    "shop": ("Grocer", "Pantry", "Store", "Deli"),
    "hub": ("Food Hub", "Collective", "Co-op"),
    "producer": ("Farm", "Dairy", "Bakery", "Growers"),
    "ngo": ("Foundation", "Trust", "Community Kitchen", "Outreach"),
}
INBOUND_BODIES = (
    "Hi, is my order ready?", "What time do you open tomorrow?", "Can I change my delivery slot?",
    "Do you have gluten free bread this week?", "Thanks, received!", "I'd like to cancel please",
    "Is the veg box available?", "Where is the pickup point?", "STOP", "Yes please",
    "How much is the family box?", "Can I pay at collection?",
)
OUTBOUND_BODIES = (
    "Your order is confirmed.", "Your order is ready for collection.",
    "Reminder: pickup tomorrow between 4pm and 6pm.", "This week's boxes are now open.",
    "Thanks for your message, we'll reply shortly.", "Your delivery is on its way.",
    "We have fresh strawberries this week!", "Your payment was received.",
)
AUTO_REPLY = "Thanks for your message, we'll reply shortly."
CATALOGUE = (
    ("Veg box small", 1200), ("Veg box large", 2200), ("Fruit box", 1500), ("Sourdough loaf", 450),
    ("Free range eggs (6)", 320), ("Whole milk 2L", 210), ("Cheddar 250g", 390),
    ("Apples 1kg", 299), ("Potatoes 2.5kg", 250), ("Honey 340g", 650), ("Oat milk 1L", 180),
    ("Coffee beans 250g", 750), ("Tomatoes 500g", 275), ("Chicken thighs 1kg", 899),
    ("Lentils 500g", 199), ("Flowers bunch", 800),
)


def person(rng: random.Random, instance: Instance) -> tuple[str, str, str]:
    """(name, email, phone)."""
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}{rng.randrange(1, 10_000)}@{instance.email_domain}"
    digits = f"{rng.randrange(10**8, 10**9)}"
    phone = f"{instance.phone_prefix}{digits[:2]} {digits[2:5]} {digits[5:]}"
    return f"{first} {last}", email, phone


def organization_name(rng: random.Random, kind: str) -> str:
    return f"{rng.choice(ORG_WORDS)} {rng.choice(ORG_WORDS)} {rng.choice(KIND_SUFFIX[kind])}"


def catalogue(instance: Instance) -> list[tuple[str, int]]:
    return [(name, round(price * instance.price_factor)) for name, price in CATALOGUE]
