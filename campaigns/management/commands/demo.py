"""Load the demo catalog, the approved `abandoned_cart` template, a ready campaign and an admin
(a superuser, in the Marketers group so the admin's user page shows the role a marketer needs).

Safe to run again: existing rows are updated, the campaign you edited is left as it is, and the
admin's password is only printed when the admin is first created.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns import conf, roles
from campaigns import demo_catalog as demo
from campaigns.audiences.consent import Provenance, consent_record
from campaigns.models import (
    Campaign,
    Consent,
    ConsentEvent,
    Contact,
    MessageTemplate,
    Product,
    Section,
    SectionItem,
)


class Command(BaseCommand):
    help = "Load demo data (idempotent) and create an admin login."

    def add_arguments(self, parser):
        parser.add_argument("--admin-username", default="admin")

    @transaction.atomic
    def handle(self, *args, admin_username, **options):
        products = self.load_products()
        template, _ = MessageTemplate.objects.update_or_create(
            name=demo.TEMPLATE["name"], language=demo.TEMPLATE["language"], defaults=demo.TEMPLATE
        )
        campaign, created = Campaign.objects.get_or_create(
            name=demo.CAMPAIGN["name"],
            defaults={
                **demo.CAMPAIGN,
                "template": template,
                "thumbnail_product": products[demo.THUMBNAIL],
            },
        )
        if created:
            for position, (title, retailer_ids) in enumerate(demo.SECTIONS):
                section = Section.objects.create(campaign=campaign, title=title, position=position)
                SectionItem.objects.bulk_create(
                    SectionItem(section=section, product=products[rid], position=index)
                    for index, rid in enumerate(retailer_ids)
                )
        self.stdout.write(
            f"Demo data: {len(products)} products, template {template}, campaign "
            f"“{campaign}” (id {campaign.pk}, {'created' if created else 'kept as it was'})."
        )
        opted_in = self.load_contacts()
        self.stdout.write(f"Demo contacts: {len(demo.CONTACTS)}, {opted_in} opt-in(s) recorded.")
        self.ensure_admin(admin_username)

    def load_contacts(self) -> int:
        """The demo's customers, opted in once (a contact's later opt-out is left as it is)."""
        recorded = 0
        proof = Provenance(ConsentEvent.Source.IMPORT, ref="demo data")
        for phone, name, attributes in demo.CONTACTS:
            if not Contact.objects.filter(phone=phone).exclude(consent=Consent.UNKNOWN).exists():
                consent_record(phone, Consent.OPTED_IN, proof)
                recorded += 1
            Contact.objects.filter(phone=phone).update(name=name, attributes=attributes)
        return recorded

    def load_products(self) -> dict[str, Product]:
        image_dir = settings.BASE_DIR / "static" / "demo" / "products"
        image_dir.mkdir(parents=True, exist_ok=True)
        products = {}
        for retailer_id, name, price, category in demo.PRODUCTS:
            image = image_dir / f"{retailer_id}.svg"
            if not image.exists():
                image.write_text(demo.image_svg(name, category))
            products[retailer_id], _ = Product.objects.update_or_create(
                retailer_id=retailer_id,
                defaults={
                    "name": name,
                    "description": f"{name}, from the demo catalog.",
                    "price": demo.price(price),
                    "currency": "INR",
                    "image_url": f"{conf.SITE_URL}/static/demo/products/{retailer_id}.svg",
                    "link": f"{conf.SITE_URL}/demo/{retailer_id}",
                    "availability": Product.Availability.OUT_OF_STOCK
                    if retailer_id in demo.OUT_OF_STOCK
                    else Product.Availability.IN_STOCK,
                    "active": True,
                },
            )
        return products

    def ensure_admin(self, username: str):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            self.stdout.write(
                f"Admin login: {username} (its password was printed when it was created; "
                f"set a new one with: .venv/bin/python manage.py changepassword {username})"
            )
        else:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Admin login: {username} / {password}"))
        # An administrator may have deleted the group: the demo does not bring it back.
        user.groups.add(*Group.objects.filter(name=roles.MARKETERS.name))
