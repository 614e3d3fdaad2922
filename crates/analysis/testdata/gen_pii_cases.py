#!/usr/bin/env python3
"""Writes pii_cases.tsv: the sensitive-data test corpus (hand-written templates, valid and
invalid checksums generated here). Deterministic: `python3 gen_pii_cases.py > pii_cases.tsv`.
Format: EXPECTED<TAB>TEXT; EXPECTED is `-` or `kind=substring` joined by ` || `."""
import random

R = random.Random(4)
rows = []


def add(text, *exp):
    rows.append((" || ".join(f"{k}={s}" for k, s in exp) or "-", text))


def iban_de():
    bban = f"{R.randrange(10**7, 10**8)}{R.randrange(10**9, 10**10)}"
    n = int(bban + "131400")  # D=13 E=14, check digits 00
    return f"DE{98 - n % 97:02d}{bban}"


def iban_at():
    bban = f"{R.randrange(10**15, 10**16)}"
    n = int(bban + "102900")  # A=10 T=29
    return f"AT{98 - n % 97:02d}{bban}"


def grouped(s, n=4):
    return " ".join(s[i:i + n] for i in range(0, len(s), n))


def luhn_complete(prefix, length):
    digits = prefix + "".join(str(R.randrange(10)) for _ in range(length - len(prefix) - 1))
    for c in "0123456789":
        cand = digits + c
        total = 0
        for i, d in enumerate(reversed(cand)):
            v = int(d)
            if i % 2 == 1:
                v *= 2
                if v > 9:
                    v -= 9
            total += v
        if total % 10 == 0:
            return cand


def tax_id():
    while True:
        d = [R.randrange(1, 10)] + [R.randrange(10) for _ in range(9)]
        counts = [d.count(x) for x in range(10)]
        if sum(1 for c in counts if c >= 2) != 1 or max(counts) > 3:
            continue
        product = 10
        for x in d:
            s = (x + product) % 10 or 10
            product = (s * 2) % 11
        check = 11 - product
        if check == 10:
            check = 0
        return "".join(map(str, d)) + str(check)


def cross(v):
    return v // 10 + v % 10


def kvnr():
    letter = chr(65 + R.randrange(26))
    body = "".join(str(R.randrange(10)) for _ in range(8))
    n = ord(letter) - 64
    ds = [n // 10, n % 10] + [int(c) for c in body]
    s = sum(cross(d * (1 if i % 2 == 0 else 2)) for i, d in enumerate(ds))
    return f"{letter}{body}{s % 10}"


def rvnr():
    area = f"{R.randrange(10, 80)}"
    bd = f"{R.randrange(1, 29):02d}{R.randrange(1, 13):02d}{R.randrange(40, 99)}"
    letter = chr(65 + R.randrange(26))
    serial = f"{R.randrange(0, 100):02d}"
    n = ord(letter) - 64
    ds = [int(c) for c in area + bd] + [n // 10, n % 10] + [int(c) for c in serial]
    w = [2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1]
    s = sum(cross(d * x) for d, x in zip(ds, w))
    return f"{area}{bd}{letter}{serial}{s % 10}"


def broken(s):
    i = len(s) - 1
    return s[:i] + str((int(s[i]) + 1) % 10)


# ---- IBAN
for _ in range(12):
    i = iban_de()
    add(f"Bitte überweisen Sie auf DE-Konto {grouped(i)} danke", ("iban", grouped(i)))
for _ in range(8):
    i = iban_de()
    add(f"IBAN:{i} Kontoinhaber Max", ("iban", i))
for _ in range(4):
    i = iban_at()
    add(f"Meine österreichische IBAN ist {grouped(i)}.", ("iban", grouped(i)))
add("Ihr habt das Geld an GB82 WEST 1234 5698 7654 32 geschickt?!", ("iban", "GB82 WEST 1234 5698 7654 32"))
add("iban de89 3704 0044 0532 0130 00 bitte prüfen", ("iban", "de89 3704 0044 0532 0130 00"))
for _ in range(10):
    i = broken(iban_de())
    add(f"Zahlung an {grouped(i)} kam nicht an")  # checksum fails
for _ in range(4):
    i = iban_de()
    add(f"Referenz {i}99 ist keine IBAN")  # too long, no boundary
add("DE12 ist unsere Abteilungsnummer, Raum 3704")
add("Artikel DE89-3704-0044 ist ausverkauft")

# ---- credit cards
for pre, ln in [("4", 16), ("51", 16), ("55", 16), ("37", 15), ("4", 16), ("2221", 16), ("6011", 16), ("34", 15)]:
    c = luhn_complete(pre, ln)
    g = grouped(c) if ln == 16 else f"{c[:4]} {c[4:10]} {c[10:]}"
    add(f"Abbuchung von Karte {g} doppelt!", ("credit_card", g))
    add(f"Kreditkarte {c} gesperrt?", ("credit_card", c))
for pre in ["4", "51", "4", "55", "37"]:
    c = broken(luhn_complete(pre, 16))
    add(f"Bestellung {grouped(c)} storniert")
add("Sendungsnummer 1234 5678 9012 3456 verfolgen")
add("Die Nummer 9999 8888 7777 6666 steht auf dem Brief")

# ---- e-mail
for u, d in [("max.mustermann", "example.de"), ("anna_k", "web.de"), ("p.schulz+versicherung", "gmx.net"),
             ("info", "autohaus-mueller.de"), ("j.doe", "mail.example.com"), ("k1234", "t-online.de")]:
    e = f"{u}@{d}"
    add(f"Schreiben Sie mir an {e} bitte", ("email", e))
    add(f"Kontakt: {e}.", ("email", e))
add("@HUK24 warum antwortet niemand?")
add("Danke @ERGO_Versicherung für die schnelle Hilfe")
add("Wir treffen uns @ 10 Uhr")
add("Mail an service@ ging nicht raus")
add("Adresse name(at)example.de funktioniert nicht")

# ---- phones
phones = ["0171 2345678", "0151/23456789", "030 12345678", "089-1234567", "+49 170 1234567",
          "+49 (0)30 12345678", "0049 221 9876543", "(030) 1234567", "040 / 123 456 78", "0176-12345678",
          "+4915123456789", "0211 4567890"]
for p in phones:
    add(f"Rufen Sie mich an unter {p}, ab 18 Uhr", ("phone", p))
    add(f"Tel. {p}", ("phone", p))
add("Der Beitrag stieg von 0,50 € auf 1,20 €")
add("Termin um 10:30 Uhr, Raum 0815")
add("Bestellnummer 20231234 ist angekommen")
add("Wir sind seit 2015 Kunden und zahlen 1200 Euro")
add("Hotline 0800 hat 45 Minuten Wartezeit")
add("Ergebnis 3:0 gestern, egal")
add("Postfach 12 34 56 ist richtig")
add("Das kostet 0 Euro")

# ---- birth dates (context) and non-birth dates
for d in ["12.03.1985", "1.2.1970", "03.11.59", "1979-05-23", "3. Mai 1979", "24. Dezember 1990", "7/8/1965"]:
    add(f"Ich bin am {d} geboren, brauche ich das?", ("birth_date", d))
    add(f"Geburtsdatum: {d}", ("birth_date", d))
    add(f"Name Max Muster, geb. {d}, Vertrag gekündigt", ("birth_date", d))
for d in ["12.03.2023", "01.01.2020", "5.6.2024", "2024-02-29", "14. Juli 2023", "31.12.2022"]:
    add(f"Der Unfall war am {d} auf der A7", )
    add(f"Seit dem {d} warte ich auf Antwort")
    add(f"Schaden vom {d} immer noch nicht reguliert")
add("Mein Sohn hat am 12.03. Geburtstag, aber das ist egal")
add("Geboren bin ich in Köln, der Schaden war am 03.04.2023 gemeldet")

# ---- addresses
addrs = [("Lindenstraße 12a, 10115 Berlin", "Lindenstraße 12a, 10115 Berlin"),
         ("Hauptstr. 5", "Hauptstr. 5"), ("Am Ring 3", None), ("Goethestrasse 27 80336 München", "Goethestrasse 27 80336 München"),
         ("Karl-Marx-Allee 90", "Karl-Marx-Allee 90"), ("Birkenweg 4", "Birkenweg 4"),
         ("Marktplatz 1, 72070 Tübingen", "Marktplatz 1, 72070 Tübingen"), ("Schillerstraße 101-103", "Schillerstraße 101-103"),
         ("Rheinuferdamm 8", "Rheinuferdamm 8"), ("Elbchaussee 200", "Elbchaussee 200")]
for a, exp in addrs:
    if exp:
        add(f"Ich wohne {a}, schicken Sie es dahin", ("address", exp))
        add(f"Neue Anschrift: {a}", ("address", exp))
    else:
        add(f"Ich wohne {a}, schicken Sie es dahin")
add("Die Hauptstraße war gesperrt, deshalb kam ich zu spät")
add("Der Parkplatz 2 ist immer belegt")
add("Auf dem Heimweg 3 Rehe gesehen")
add("Auf dem Weg 2 Mal angerufen")
add("Wohne in 10115 Berlin, reicht das?")

# ---- policy / claim numbers
for n in ["KV-2023-778812", "12345678", "LV 9876543", "HX12345678", "A-1234567"]:
    add(f"Meine Versicherungsnummer ist {n}, bitte prüfen", ("policy_number", n))
    add(f"Vertragsnummer: {n}", ("policy_number", n))
for n in ["45-778899/2024", "S2024-11873", "778899", "AZ 2023/4471"]:
    add(f"Schadennummer {n} - wann kommt Geld?", ("claim_number", n))
    add(f"Aktenzeichen: {n}", ("claim_number", n))
add("Police Nr. 4711-0815-22 liegt vor", ("policy_number", "4711-0815-22"))
add("VSNR 880012345 ist falsch hinterlegt", ("policy_number", "880012345"))
add("Meine Vertragsnummer habe ich nicht zur Hand")
add("Welche Schadennummer brauche ich dafür?")
add("Die Versicherungsnummer steht auf Seite 2")

# ---- licence plates
for p in ["M-AB 1234", "HH-XY 99", "B-MW 2020", "K-O 5", "S-AB 123E", "HD-K 42H", "GÖ-AB 12"]:
    add(f"Kennzeichen {p}, Parkschaden heute", ("license_plate", p))
    add(f"Der Wagen {p} hat mich angefahren", ("license_plate", p))
add("Mein Auto, Kennzeichen M AB 1234, steht in der Werkstatt", ("license_plate", "M AB 1234"))
add("ICH BIN 5 Stunden in der Warteschleife")
add("Die EU-DSGVO gilt seit 2018")
add("Mit der A-Klasse 200 Euro gespart")
add("IN DER HOTLINE 45 Minuten")
add("Der ICE-T 18 fällt aus")

# ---- tax and insurance ids
for _ in range(6):
    t = tax_id()
    add(f"Meine Steuer-ID ist {t}", ("tax_id", t))
for _ in range(4):
    t = tax_id()
    s = f"{t[:2]} {t[2:5]} {t[5:8]} {t[8:]}"
    add(f"Steuer-Identifikationsnummer {s} für die Bescheinigung", ("tax_id", s))
for _ in range(5):
    t = broken(tax_id())
    add(f"Ticket {t} im Portal")
for _ in range(6):
    k = kvnr()
    add(f"Versichertennummer {k} auf der Karte", ("insurance_id", k))
for _ in range(5):
    r = rvnr()
    add(f"Rentenversicherungsnummer: {r}", ("insurance_id", r))
    add(f"SV-Nummer {r[:2]} {r[2:8]} {r[8]} {r[9:]} bitte ändern", ("insurance_id", f"{r[:2]} {r[2:8]} {r[8]} {r[9:]}"))
for _ in range(4):
    add(f"Code {broken(kvnr())} eingegeben")

# ---- health (Art. 9)
for term in ["Chemotherapie", "Krebs", "Diabetes", "Depression", "Bandscheibenvorfall", "Herzinfarkt", "Schlaganfall",
             "Psychotherapie", "Knieoperation", "Krebserkrankung", "Schwangerschaft", "HIV", "Burnout", "Demenz",
             "Zahnersatz", "Arztbrief", "Diagnose", "Hörsturz", "Physiotherapie", "Migräne"]:
    add(f"Wegen meiner {term} brauche ich die Leistung jetzt", ("health", term))
add("Nach der OP zahlt ihr nicht!", ("health", "OP"))
add("Krankenkasse erstattet nichts, Frechheit")
add("Die Operation Rückruf ist gescheitert, lol")
add("Zahnarzt hatte heute keinen Termin frei")
add("Ich bin heute krank und kann nicht anrufen")
add("Die Krankenversicherung ist zu teuer")
add("Top Service, danke!")
add("Seit Wochen keine Antwort, unverschämt!")
add("Hop oder top")

# ---- more everyday posts without personal data
for t in ["Beitragserhöhung um 12 % ab 01.01.2025, echt jetzt?", "Hab 3 Mal angerufen, 2 Stunden gewartet",
          "Die App Version 4.12.1 stürzt ab", "Tarif 2024 plus kostet 39,90 €", "Top 10 der Versicherer 2023",
          "Wir haben 2 Kinder und 1 Hund", "Am 24.12. ist die Hotline zu?", "Seite 12 von 30 fehlt",
          "PLZ 10115 gehört zu Berlin", "Kfz-Versicherung für 2 Autos", "Meine SF-Klasse ist SF 12",
          "Die Hotline 0800 123 ist kostenlos", "Ticket #4471 noch offen", "Runde 3:2 für uns",
          "ISO 9001 zertifiziert", "Mit 120 km/h auf der A3", "Gutachten vom 3.4. fehlt noch",
          "Mein Jahrgang ist einfach der beste", "Die Nummer 112 im Notfall", "Preis 1.299,00 Euro"]:
    add(t)

# ---- combinations
i = iban_de()
add(f"IBAN {grouped(i)}, Tel 0171 2345678, geb. 12.03.1985",
    ("iban", grouped(i)), ("phone", "0171 2345678"), ("birth_date", "12.03.1985"))
add("Schicken Sie es an anna@example.de oder Birkenweg 4",
    ("email", "anna@example.de"), ("address", "Birkenweg 4"))
add("Schadennummer 778899, Kennzeichen HH-XY 99, Fahrer hatte Herzinfarkt",
    ("claim_number", "778899"), ("license_plate", "HH-XY 99"), ("health", "Herzinfarkt"))

print("# Sensitive-data test corpus, generated by gen_pii_cases.py (do not edit by hand).")
print("# EXPECTED<TAB>TEXT; EXPECTED is '-' or kind=substring joined by ' || '.")
for exp, text in rows:
    assert "\t" not in text
    print(f"{exp}\t{text}")
