"""Seed the meters, the Free plan and the pack catalogue (docs/billing-rules.md)."""

from django.db import migrations

GB = 10**9

METERS = [
    # code, name, unit, kind, price cents, quantum, label, order
    ("storage", "Storage", "byte", "gauge", 10, GB, "GB-month", 1),
    ("bandwidth", "Bandwidth", "byte", "counter", 9, GB, "GB", 2),
    ("transcoding", "Transcoding", "second", "counter", 3, 60, "minute", 3),
    ("job_slots", "Job slots", "slot", "allocation", None, 1, "slot", 4),
]

FREE_ALLOWANCES = {
    "storage": 2 * GB,
    "bandwidth": 5 * GB,
    "transcoding": 60 * 60,
    "job_slots": 2,
}

# code stem, name, category, meter, amount, one-time cents, subscription cents, term days
PACKS = [
    ("storage-50gb", "Storage +50 GB", "capacity", "storage", 50 * GB, 2000, 1800, 365),
    (
        "bandwidth-100gb",
        "Bandwidth +100 GB",
        "capacity",
        "bandwidth",
        100 * GB,
        700,
        600,
        365,
    ),
    (
        "transcoding-500min",
        "Transcoding +500 min",
        "capacity",
        "transcoding",
        500 * 60,
        1200,
        1000,
        365,
    ),
    ("slots-5", "5 job slots", "slots", "job_slots", 5, 2500, 2000, 30),
    ("slots-20", "20 job slots", "slots", "job_slots", 20, 8000, 7000, 30),
    ("slots-50", "50 job slots", "slots", "job_slots", 50, 17500, 15000, 30),
    ("slots-100", "100 job slots", "slots", "job_slots", 100, 30000, 25000, 30),
]


def seed(apps, schema_editor):
    Meter = apps.get_model("billing", "Meter")
    Plan = apps.get_model("billing", "Plan")
    PlanAllowance = apps.get_model("billing", "PlanAllowance")
    Pack = apps.get_model("billing", "Pack")
    PackAllowance = apps.get_model("billing", "PackAllowance")

    meters = {}
    for code, name, unit, kind, price, quantum, label, order in METERS:
        meters[code], _ = Meter.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "kind": kind,
                "overage_price_cents": price,
                "price_quantum": quantum,
                "quantum_label": label,
                "display_order": order,
            },
        )
    free, _ = Plan.objects.get_or_create(
        code="free", defaults={"name": "Free", "is_default": True}
    )
    for code, amount in FREE_ALLOWANCES.items():
        PlanAllowance.objects.get_or_create(
            plan=free, meter=meters[code], defaults={"amount": amount}
        )

    for stem, name, category, meter, amount, once, sub, term in PACKS:
        for kind, suffix, price, label in [
            ("one_time", "once", once, ""),
            ("subscription", "sub", sub, " (subscription)"),
        ]:
            pack, created = Pack.objects.get_or_create(
                code=f"{stem}-{suffix}",
                defaults={
                    "name": name + label,
                    "category": category,
                    "kind": kind,
                    "price_cents": price,
                    "term_days": term,
                },
            )
            if created:
                PackAllowance.objects.create(
                    pack=pack, meter=meters[meter], amount=amount
                )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
