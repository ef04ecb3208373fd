"""The demo catalog, template and campaign that `manage.py demo` loads."""

from decimal import Decimal

# (retailer_id, name, price in INR, category); category picks the picture's colour.
PRODUCTS = [
    ("SHOE-RUN-01", "Trail runner shoes", "3499", "shoes"),
    ("SHOE-RUN-02", "Road racer shoes", "4299", "shoes"),
    ("SHOE-CAS-03", "Canvas sneakers", "1799", "shoes"),
    ("SHOE-CAS-04", "Leather loafers", "2999", "shoes"),
    ("SHOE-SAN-05", "Sport sandals", "1299", "shoes"),
    ("SHOE-BOO-06", "Hiking boots", "5499", "shoes"),
    ("TSHIRT-01", "Organic cotton tee", "699", "apparel"),
    ("TSHIRT-02", "Striped polo", "1199", "apparel"),
    ("SHIRT-03", "Linen shirt", "1899", "apparel"),
    ("HOOD-04", "Fleece hoodie", "2199", "apparel"),
    ("JACK-05", "Rain jacket", "3999", "apparel"),
    ("JEANS-06", "Slim fit jeans", "2499", "apparel"),
    ("BAG-BACK-01", "Commuter backpack", "2799", "bags"),
    ("BAG-TOTE-02", "Canvas tote", "899", "bags"),
    ("BAG-DUF-03", "Weekend duffel", "3299", "bags"),
    ("BAG-SLING-04", "Sling bag", "1499", "bags"),
    ("BAG-LAP-05", "Laptop sleeve", "1199", "bags"),
    ("WATCH-01", "Classic analog watch", "4999", "watches"),
    ("WATCH-02", "Fitness band", "2999", "watches"),
    ("WATCH-03", "Smartwatch S2", "12999", "watches"),
    ("WATCH-04", "Dive watch", "8999", "watches"),
    ("AUDIO-01", "Wireless earbuds", "3499", "audio"),
    ("AUDIO-02", "Over-ear headphones", "6999", "audio"),
    ("AUDIO-03", "Bluetooth speaker", "2499", "audio"),
    ("AUDIO-04", "Neckband earphones", "1499", "audio"),
    ("AUDIO-05", "Soundbar mini", "7999", "audio"),
    ("SUN-01", "Aviator sunglasses", "1999", "eyewear"),
    ("SUN-02", "Wayfarer sunglasses", "1799", "eyewear"),
    ("SUN-03", "Sport shades", "2299", "eyewear"),
    ("HOME-MUG-01", "Stoneware mug", "449", "home"),
    ("HOME-MUG-02", "Travel tumbler", "999", "home"),
    ("HOME-LAMP-03", "Desk lamp", "1899", "home"),
    ("HOME-CUSH-04", "Cushion cover set", "799", "home"),
    ("HOME-THROW-05", "Cotton throw", "1599", "home"),
    ("PLANT-01", "Snake plant", "599", "plants"),
    ("PLANT-02", "Money plant", "349", "plants"),
    ("PLANT-03", "Peace lily", "699", "plants"),
    ("PLANT-04", "Ceramic planter", "899", "plants"),
    ("BEAUTY-01", "Vitamin C serum", "899", "beauty"),
    ("BEAUTY-02", "Sunscreen SPF 50", "549", "beauty"),
    ("BEAUTY-03", "Lip balm trio", "299", "beauty"),
    ("BEAUTY-04", "Beard oil", "449", "beauty"),
    ("BEAUTY-05", "Face wash", "349", "beauty"),
    ("SPORT-01", "Yoga mat", "1299", "sport"),
    ("SPORT-02", "Resistance bands", "699", "sport"),
    ("SPORT-03", "Steel water bottle", "599", "sport"),
    ("SPORT-04", "Skipping rope", "399", "sport"),
    ("SPORT-05", "Dumbbell pair 5 kg", "1999", "sport"),
]
OUT_OF_STOCK = {"SHOE-BOO-06", "WATCH-04", "PLANT-03"}

COLOURS = {
    "shoes": "#e76f51",
    "apparel": "#2a9d8f",
    "bags": "#8d6e63",
    "watches": "#264653",
    "audio": "#6a4c93",
    "eyewear": "#f4a261",
    "home": "#e9c46a",
    "plants": "#52b788",
    "beauty": "#ef476f",
    "sport": "#118ab2",
}

TEMPLATE = {
    "name": "abandoned_cart",
    "language": "en_US",
    "category": "MARKETING",
    "header_text": "Your {{1}} is waiting",
    "body_text": (
        "Hi {{1}}, the items you left behind are selling fast. "
        "Tap View items to pick up where you left off."
    ),
    "footer_text": "Reply STOP to unsubscribe",
    "button_index": 0,
    "status": "approved",
}

CAMPAIGN = {
    "name": "Cart reminder (demo)",
    "header_value": "cart",
    "body_values": ["Asha"],
    "ref": "",
    "ref1": "cart-reminder",
    "ref2": "demo",
    "wa_source": "api",
}
THUMBNAIL = "AUDIO-02"
SECTIONS = [
    ("Picked for you", ["AUDIO-01", "AUDIO-02", "WATCH-03", "SUN-01"]),
    ("Run season", ["SHOE-RUN-01", "SHOE-RUN-02", "SPORT-01", "SPORT-03"]),
    ("For your home", ["HOME-MUG-01", "HOME-LAMP-03", "PLANT-01", "PLANT-04"]),
]


def price(value: str) -> Decimal:
    return Decimal(value)


def image_svg(name: str, category: str) -> str:
    """A simple product picture: the category colour with the product's initials and name."""
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    colour = COLOURS[category]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">'
        f'<rect width="400" height="400" fill="{colour}"/>'
        '<circle cx="200" cy="170" r="100" fill="#ffffff" fill-opacity="0.25"/>'
        f'<text x="200" y="200" font-family="sans-serif" font-size="84" font-weight="bold" '
        f'fill="#ffffff" text-anchor="middle">{initials}</text>'
        f'<text x="200" y="340" font-family="sans-serif" font-size="28" fill="#ffffff" '
        f'text-anchor="middle">{name}</text></svg>'
    )


# Customers who opted in (recorded in the consent ledger as imported with the demo data), so
# that the README's walkthroughs send out of the box with MPM_CONSENT_REQUIRED on.
CONTACTS = [
    ("+919876543210", "Asha Kulkarni", {"city": "Pune", "tier": "gold"}),
    ("+919876543211", "Ravi Menon", {"city": "Kochi"}),
    ("+919811112345", "Meera Shah", {"city": "Mumbai"}),
    ("+919811116789", "Arjun Rao", {"city": "Bengaluru"}),
    ("+447911123456", "Olivia Hughes", {"city": "London"}),
    ("+4915123456789", "Jonas Weber", {"city": "Berlin"}),
]
