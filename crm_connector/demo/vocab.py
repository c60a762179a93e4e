"""Word lists the generator draws from. Every name and place here is invented or generic."""

from __future__ import annotations

from dataclasses import dataclass


def _split(text: str) -> tuple[str, ...]:
    """Comma-separated words (names may contain spaces) -> a tuple."""
    return tuple(" ".join(w.split()) for w in text.split(",") if w.strip())


FIRST_NAMES = _split(
    """
    Aaron, Adele, Aiko, Alba, Amara, Amir, Ana, Anders, Anouk, Arjun, Astrid, Beatriz, Ben,
    Bianca, Bram, Camille, Carla, Chiara, Chloé, Connor, Dana, Daniel, Dario, Elif, Elena,
    Elias, Emil, Emma, Esther, Fatima, Felix, Femke, Finn, Freya, Gabriel, Greta, Hamza, Hannah,
    Hugo, Ida, Ines, Isak, Ivan, Jakob, Jana, Javier, Jonas, Josefine, Julia, Karim, Kasper,
    Katarina, Lara, Lars, Laura, Lea, Leon, Lina, Lotte, Luca, Lucía, Magnus, Maja, Malik,
    Marco, María, Marta, Mateo, Mathilde, Maya, Mehmet, Mia, Milan, Mira, Nadia, Nico, Nina,
    Noah, Nora, Olga, Oliver, Omar, Oscar, Paola, Paul, Pedro, Priya, Rafael, Rosa, Ruben, Sara,
    Selin, Simon, Sofia, Sven, Theo, Tomás, Valentina, Viktor, Yara, Yusuf, Zoë
    """
)


LAST_NAMES = _split(
    """
    Andersen, Arslan, Bakker, Becker, Bernard, Bianchi, Brennan, Castro, Costa, Dahl, de Vries,
    Dubois, Dumont, Esposito, Fernández, Fischer, Fontaine, Gallagher, García, Gruber, Hansen,
    Hartmann, Hofer, Horvat, Jansen, Janssens, Keller, Klein, Koch, Kowalski, Kraus, Lambert,
    Larsen, Laurent, Lehmann, Lindqvist, López, Lorenz, Maes, Marino, Martin, Meier, Moreau,
    Murphy, Navarro, Nielsen, Nowak, O'Brien, Olsen, Peeters, Petit, Pichler, Ricci, Romano,
    Ruiz, Santos, Schmidt, Schneider, Schulz, Silva, Sousa, Steiner, Svensson, Thomsen, Van
    Dijk, Vasquez, Visser, Vogel, Wagner, Walsh, Weber, Willems, Wolf, Yılmaz, Zimmermann
    """
)


STREET_WORDS = _split(
    """
    Acacia, Birch, Canal, Cedar, Chestnut, Clover, Elm, Fern, Harbour, Hazel, Heather, Juniper,
    Lantern, Linden, Maple, Meadow, Mill, Orchard, Poplar, Quarry, River, Rose, Rowan, Station,
    Willow
    """
)


@dataclass(frozen=True)
class Country:
    weight: int  # relative share of customers
    cities: tuple[str, ...]
    #: Street styles: a lower-case suffix ("straße"), an English suffix ("Road") or a prefix.
    streets: tuple[str, ...]
    #: Postal code pattern: "9" is a digit, "A" an upper-case letter, other characters are kept.
    postal: str
    carriers: tuple[str, ...]
    hubs: tuple[str, ...]
    transit_days: int  # from the warehouse, before any delay


COUNTRIES: dict[str, Country] = {
    "Germany": Country(
        30,
        ("Berlin", "Hamburg", "Munich", "Cologne", "Leipzig", "Bremen", "Dresden"),
        ("straße", "weg", "allee"),
        "99999",
        carriers=("DHL", "DPD", "GLS"),
        hubs=("Duisburg", "Kassel", "Hanover"),
        transit_days=1,
    ),
    "Netherlands": Country(
        14,
        ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Groningen"),
        ("straat", "laan", "gracht"),
        "9999 AA",
        carriers=("PostNL", "DHL"),
        hubs=("Nieuwegein",),
        transit_days=1,
    ),
    "France": Country(
        16,
        ("Paris", "Lyon", "Lille", "Nantes", "Bordeaux", "Toulouse"),
        ("Rue", "Avenue", "Allée"),
        "99999",
        carriers=("DPD", "UPS"),
        hubs=("Paris-Nord", "Lyon-Saint-Exupéry"),
        transit_days=2,
    ),
    "Belgium": Country(
        8,
        ("Brussels", "Antwerp", "Ghent", "Leuven", "Liège"),
        ("straat", "laan", "Rue"),
        "9999",
        carriers=("DPD", "PostNL"),
        hubs=("Antwerp",),
        transit_days=1,
    ),
    "Austria": Country(
        7,
        ("Vienna", "Graz", "Linz", "Salzburg", "Innsbruck"),
        ("gasse", "straße", "weg"),
        "9999",
        carriers=("DHL", "GLS"),
        hubs=("Nuremberg", "Vienna-Inzersdorf"),
        transit_days=2,
    ),
    "Ireland": Country(
        5,
        ("Dublin", "Cork", "Galway", "Limerick"),
        ("Road", "Street", "Lane"),
        "A99 A9A9",
        carriers=("UPS", "DPD"),
        hubs=("East Midlands", "Dublin Airport"),
        transit_days=3,
    ),
    "Spain": Country(
        8,
        ("Madrid", "Barcelona", "Valencia", "Seville", "Bilbao"),
        ("Calle", "Avenida", "Paseo"),
        "99999",
        carriers=("UPS", "GLS"),
        hubs=("Lyon-Saint-Exupéry", "Madrid-Coslada"),
        transit_days=3,
    ),
    "Italy": Country(
        7,
        ("Milan", "Rome", "Turin", "Bologna", "Florence"),
        ("Via", "Viale", "Corso"),
        "99999",
        carriers=("UPS", "GLS", "DHL"),
        hubs=("Basel", "Milan-Linate"),
        transit_days=3,
    ),
    "Denmark": Country(
        5,
        ("Copenhagen", "Aarhus", "Odense", "Aalborg"),
        ("vej", "gade", "allé"),
        "9999",
        carriers=("GLS", "DHL"),
        hubs=("Hamburg", "Copenhagen-Brøndby"),
        transit_days=2,
    ),
}


#: Where parcels leave from.
WAREHOUSE = "Venlo fulfilment centre, NL"


@dataclass(frozen=True)
class CategorySpec:
    name: str
    code: str  # SKU prefix
    demand: int  # relative share of order lines
    price_range: tuple[int, int]  # cents
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]


def _category(
    name: str, code: str, demand: int, low: int, high: int, nouns: str, adjectives: str
) -> CategorySpec:
    return CategorySpec(name, code, demand, (low, high), _split(nouns), _split(adjectives))


CATEGORIES = (
    _category(
        "Kitchen",
        "KT",
        14,
        399,
        8999,
        """
        Espresso Cup Set, Chef's Knife, Cutting Board, Mixing Bowl, Tea Towel, French Press,
        Spice Rack, Cast Iron Pan, Salad Servers, Measuring Jug
        """,
        "Enamel, Bamboo, Oak, Stoneware, Steel, Speckled",
    ),
    _category(
        "Home Decor",
        "HD",
        11,
        499,
        12999,
        """
        Cushion Cover, Table Lamp, Wall Clock, Photo Frame, Vase, Throw Blanket, Candle Holder,
        Mirror, Plant Pot, Rug
        """,
        "Linen, Ceramic, Rattan, Velvet, Brass, Terracotta",
    ),
    _category(
        "Garden",
        "GD",
        7,
        299,
        14999,
        """
        Watering Can, Pruning Shears, Bird Feeder, Seed Tray, Garden Gloves, Hose Reel, Planter
        Box, Solar Lantern, Trowel, Deck Chair
        """,
        "Galvanised, Weatherproof, Cedar, Recycled, Foldable, Zinc",
    ),
    _category(
        "Toys & Games",
        "TG",
        9,
        499,
        7999,
        """
        Jigsaw Puzzle, Wooden Train, Board Game, Card Game, Building Blocks, Plush Fox, Kite,
        Marble Run, Doll House, Science Kit
        """,
        "Classic, Family, Travel, Deluxe, Junior, Rainbow",
    ),
    _category(
        "Stationery",
        "ST",
        8,
        149,
        3999,
        """
        Notebook, Fountain Pen, Desk Organiser, Sticky Notes, Planner, Pencil Case, Washi Tape
        Set, Sketchbook, Greeting Cards, Letter Set
        """,
        "Dotted, Recycled, Leather, Pastel, Kraft, Pocket",
    ),
    _category(
        "Bath & Body",
        "BB",
        8,
        299,
        4999,
        """
        Hand Soap, Bath Salts, Body Lotion, Shampoo Bar, Bath Towel, Lip Balm, Face Cloth Set,
        Shower Gel, Hand Cream, Bath Robe
        """,
        "Lavender, Citrus, Unscented, Organic, Eucalyptus, Cotton",
    ),
    _category(
        "Electronics Accessories",
        "EA",
        10,
        799,
        15999,
        """
        USB-C Cable, Power Bank, Wireless Charger, Phone Case, Bluetooth Speaker, Earbuds,
        Laptop Sleeve, Webcam Cover, Travel Adapter, Smart Plug
        """,
        "Braided, Compact, Slim, Rugged, Fast, Matte",
    ),
    _category(
        "Sports & Outdoors",
        "SO",
        8,
        599,
        17999,
        """
        Yoga Mat, Water Bottle, Running Belt, Trekking Poles, Camping Mug, Head Torch,
        Resistance Bands, Daypack, Picnic Blanket, Cycling Gloves
        """,
        "Insulated, Lightweight, Reflective, Waterproof, Packable, Trail",
    ),
    _category(
        "Books",
        "BK",
        6,
        699,
        4499,
        """
        Cookbook, Travel Guide, Novel, Field Guide, Colouring Book, Poetry Collection, Gardening
        Handbook, Atlas, Children's Picture Book, Puzzle Book
        """,
        "Illustrated, Paperback, Hardback, Pocket, Collector's, Large Print",
    ),
    _category(
        "Pet Supplies",
        "PS",
        6,
        299,
        8999,
        """
        Dog Lead, Cat Scratcher, Pet Bed, Chew Toy, Food Bowl, Grooming Brush, Treat Jar, Cat
        Tunnel, Dog Raincoat, Travel Water Bowl
        """,
        "Durable, Cosy, Reflective, Natural, Washable, Adjustable",
    ),
    _category(
        "Fashion Accessories",
        "FA",
        7,
        499,
        9999,
        """
        Scarf, Beanie, Tote Bag, Sunglasses, Wallet, Belt, Umbrella, Socks 3-Pack, Watch Strap,
        Hair Clips
        """,
        "Wool, Canvas, Leather, Striped, Knitted, Vintage",
    ),
    _category(
        "Coffee & Tea",
        "CT",
        6,
        349,
        5999,
        """
        Coffee Beans 500 g, Green Tea, Chai Blend, Pour-Over Filters, Milk Frother, Tea Infuser,
        Hot Chocolate, Travel Mug, Herbal Tea Sampler, Cold Brew Kit
        """,
        "Single-Origin, Fairtrade, Decaf, Organic, Smoky, Morning",
    ),
)

COLOURS = (
    "Sage",
    "Navy",
    "Ochre",
    "Charcoal",
    "Coral",
    "Ivory",
    "Forest",
    "Slate",
    "Blush",
    "Sand",
)

CANCEL_REASONS = (
    "Ordered by mistake",
    "Found a better price elsewhere",
    "Delivery would take too long",
    "Changed my mind",
    "Wrong size or colour chosen",
)

RETURN_REASONS = (
    "Item arrived damaged",
    "Wrong size",
    "Not as described",
    "Changed my mind",
    "Received the wrong item",
    "Quality not as expected",
)

DELAY_REASONS = (
    "high parcel volumes",
    "severe weather",
    "a vehicle breakdown",
    "a sorting backlog",
)

DELIVERY_OUTCOMES = (
    "Delivered to the recipient",
    "Delivered to a neighbour",
    "Left in the agreed safe place",
    "Delivered to a parcel locker",
)
