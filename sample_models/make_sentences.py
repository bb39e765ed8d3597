"""Write the fixed sentence set the text model is evaluated on: sample_models/data/sentences.txt.

    python sample_models/make_sentences.py

Origin: generated here, from hand-written templates over 20 everyday topics (5 subjects x
6 actions x 5 details each = 150 sentences per topic, 3,000 in all), in a fixed order. Nothing is
downloaded. Sentences of one topic share vocabulary and meaning, so nearest-neighbour retrieval
over them is a meaningful test of whether a compressed encoder keeps the original's geometry.
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "sentences.txt"

TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "weather": (
        ["The morning forecast", "A cold front", "The summer storm", "Heavy fog", "The weekend weather"],
        ["brings rain to", "keeps clouds over", "causes delays across", "lowers temperatures in", "surprises people in", "clears up over"],
        ["the northern valleys.", "the coastal towns.", "the city centre.", "the mountain passes.", "the farming region."],
    ),
    "cooking": (
        ["The head chef", "My grandmother", "A young cook", "The bakery owner", "Our neighbour"],
        ["slowly roasts", "carefully seasons", "bakes a tray of", "serves a bowl of", "prepares a sauce for", "chops fresh herbs for"],
        ["the vegetable soup.", "the Sunday lunch.", "the apple pie.", "the grilled fish.", "the family dinner."],
    ),
    "football": (
        ["The home team", "Their striker", "The young goalkeeper", "The coach", "The visiting side"],
        ["scores twice against", "loses narrowly to", "trains hard before facing", "celebrates a win over", "draws level with", "defends well against"],
        ["the league leaders.", "their local rivals.", "the cup holders.", "the newly promoted club.", "the national champions."],
    ),
    "computers": (
        ["The new laptop", "Our database server", "The software update", "A faulty graphics card", "The office network"],
        ["slows down when", "crashes whenever", "speeds up after", "needs a restart once", "reports an error when", "runs smoothly while"],
        ["the backup starts.", "many users log in.", "the memory fills up.", "the disk is nearly full.", "the firewall is enabled."],
    ),
    "finance": (
        ["The central bank", "Small investors", "The pension fund", "The stock market", "A regional lender"],
        ["raises interest on", "worries about", "reports gains from", "cuts its exposure to", "expects losses on", "invests heavily in"],
        ["government bonds.", "rising inflation.", "technology shares.", "commercial property.", "foreign currencies."],
    ),
    "health": (
        ["The family doctor", "A hospital nurse", "The new vaccine", "Regular exercise", "A balanced diet"],
        ["helps to prevent", "reduces the risk of", "is recommended against", "lowers the chance of", "protects older patients from", "slows the spread of"],
        ["seasonal flu.", "heart disease.", "high blood pressure.", "childhood infections.", "chronic back pain."],
    ),
    "travel": (
        ["The night train", "Our cheap flight", "The tour bus", "A long ferry crossing", "The hotel shuttle"],
        ["leaves early for", "arrives late in", "is cancelled on the way to", "is fully booked to", "stops briefly near", "takes tourists to"],
        ["the old harbour.", "the capital city.", "the ski resort.", "the island villages.", "the airport terminal."],
    ),
    "music": (
        ["The string quartet", "A jazz pianist", "The school choir", "The rock band", "An opera singer"],
        ["performs a piece by", "records an album of", "rehearses songs from", "opens the festival with", "plays an encore of", "tours with music by"],
        ["a baroque composer.", "classic folk tunes.", "a famous musical.", "their first record.", "a modern songwriter."],
    ),
    "astronomy": (
        ["The space telescope", "An amateur astronomer", "The research team", "A small observatory", "The orbiting probe"],
        ["photographs", "detects signals from", "measures the distance to", "discovers a moon around", "tracks the orbit of", "studies the light of"],
        ["a distant galaxy.", "a young star.", "the outer planets.", "a passing comet.", "a nearby nebula."],
    ),
    "history": (
        ["The ancient empire", "A medieval king", "The revolutionary army", "The old trading city", "A famous explorer"],
        ["conquered", "built a fortress near", "signed a treaty with", "lost a great battle to", "traded spices with", "sent envoys to"],
        ["the northern tribes.", "the river kingdom.", "a rival dynasty.", "the merchant republic.", "the eastern provinces."],
    ),
    "animals": (
        ["The grey wolf", "A family of otters", "The old elephant", "A curious fox", "The migrating geese"],
        ["hunts at dawn near", "builds a den beside", "searches for food along", "rests in the shade of", "returns each spring to", "drinks water from"],
        ["the frozen lake.", "the forest edge.", "the muddy riverbank.", "the open savanna.", "the quiet wetlands."],
    ),
    "gardening": (
        ["The keen gardener", "Our allotment group", "The park staff", "A retired teacher", "My younger brother"],
        ["plants tomatoes in", "waters the roses in", "prunes the hedges around", "grows herbs along", "removes weeds from", "spreads compost over"],
        ["the raised beds.", "the front garden.", "the greenhouse.", "the sunny terrace.", "the vegetable patch."],
    ),
    "school": (
        ["The maths teacher", "A group of pupils", "The head teacher", "The exam board", "Our science class"],
        ["explains fractions to", "prepares a project about", "sets a difficult test on", "discusses homework with", "organises a trip to learn about", "reviews the results of"],
        ["the younger students.", "renewable energy.", "world geography.", "the anxious parents.", "the final exams."],
    ),
    "transport": (
        ["The city council", "Local commuters", "The rail operator", "A cycling campaign", "The bus company"],
        ["complains about", "invests in", "plans to expand", "asks for safer", "reports delays on", "celebrates the opening of"],
        ["the tram network.", "bicycle lanes.", "the ring road.", "night bus services.", "the new metro line."],
    ),
    "energy": (
        ["The wind farm", "A solar plant", "The nuclear station", "The national grid", "A small hydro dam"],
        ["supplies power to", "stores electricity for", "reduces emissions from", "balances demand across", "feeds clean energy into", "shuts down for repairs near"],
        ["thousands of homes.", "the industrial zone.", "the northern region.", "the regional network.", "the coastal cities."],
    ),
    "law": (
        ["The supreme court", "A defence lawyer", "The jury", "The prosecutor", "A local judge"],
        ["rules in favour of", "questions the witness about", "rejects the appeal of", "reviews the evidence against", "delays the verdict on", "hears arguments from"],
        ["the accused company.", "the former mayor.", "the tenants' union.", "the insurance firm.", "the young defendant."],
    ),
    "shopping": (
        ["The department store", "Online shoppers", "A corner shop", "The shopping centre", "Bargain hunters"],
        ["offers discounts on", "queue early for", "runs out of", "returns faulty", "compare prices of", "order cheap"],
        ["winter coats.", "kitchen appliances.", "fresh bread.", "running shoes.", "children's toys."],
    ),
    "work": (
        ["The project manager", "Remote employees", "The night shift", "A new intern", "The sales department"],
        ["meets the client about", "complains about", "works overtime on", "presents a report on", "receives training for", "falls behind on"],
        ["the quarterly budget.", "the new contract.", "the product launch.", "the office move.", "the customer survey."],
    ),
    "art": (
        ["The city museum", "A young painter", "The art gallery", "A famous sculptor", "The photography club"],
        ["exhibits works inspired by", "sketches portraits of", "restores a painting of", "creates a statue of", "captures images of", "opens a show about"],
        ["the sea at dusk.", "workers in factories.", "the royal family.", "an abandoned village.", "dancers on stage."],
    ),
    "ocean": (
        ["The marine biologist", "A fishing crew", "The research vessel", "A diving team", "The coastal guard"],
        ["explores the reef near", "maps the seabed under", "counts the whales around", "rescues sailors off", "measures plastic waste in", "studies coral growth along"],
        ["the rocky islands.", "the deep trench.", "the shipping lanes.", "the warm lagoon.", "the polar ice shelf."],
    ),
}


def sentences() -> list[str]:
    out = []
    for subjects, actions, details in TOPICS.values():
        for subject in subjects:
            for action in actions:
                for detail in details:
                    out.append(f"{subject} {action} {detail}")
    return out


def main() -> None:
    lines = sentences()
    assert len(lines) == len(set(lines)) == 3000
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines):,} sentences over {len(TOPICS)} topics to {OUT}")


if __name__ == "__main__":
    main()
