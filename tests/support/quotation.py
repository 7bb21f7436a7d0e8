"""An ERPNext-like Quotation document (dates, floats, child rows) for tests, demo and
benchmarks."""
import datetime
import random

ITEM_FIELDS = 45


def quotation_item(i, rng):
    qty = float(rng.randint(1, 50))
    rate = round(rng.uniform(1, 2000), 2)
    row = {
        "name": f"qi-{i:05d}", "owner": "Administrator", "creation": datetime.datetime(2026, 11, 1, 9, 30, 12, 123456),
        "modified": datetime.datetime(2026, 11, 2, 10, 0), "modified_by": "Administrator", "docstatus": 0,
        "idx": i + 1, "item_code": f"ITEM-{rng.randint(1, 9999):04d}", "item_name": "Widget – grade A",
        "description": "<p>Steel widget, 20 mm \"heavy\" duty</p>", "item_group": "Products", "brand": None,
        "image": "", "qty": qty, "stock_uom": "Nos", "uom": "Nos", "conversion_factor": 1.0, "stock_qty": qty,
        "price_list_rate": rate, "base_price_list_rate": rate, "margin_type": "", "margin_rate_or_amount": 0.0,
        "rate_with_margin": 0.0, "discount_percentage": 0.0, "discount_amount": 0.0, "rate": rate,
        "net_rate": rate, "amount": round(qty * rate, 2), "net_amount": round(qty * rate, 2),
        "base_rate": rate, "base_net_rate": rate, "base_amount": round(qty * rate, 2),
        "base_net_amount": round(qty * rate, 2), "pricing_rules": "", "is_free_item": 0,
        "is_alternative": 0, "has_alternative_item": 0, "valuation_rate": round(rate * 0.7, 3),
        "gross_profit": round(qty * rate * 0.3, 2), "weight_per_unit": 0.0, "total_weight": 0.0,
        "weight_uom": None, "warehouse": "Stores - ACME", "prevdoc_doctype": None,
        "delivery_date": datetime.date(2026, 12, 15), "parent": "SAL-QTN-2026-00042",
        "parentfield": "items", "parenttype": "Quotation", "doctype": "Quotation Item",
    }
    assert len(row) >= ITEM_FIELDS
    return row


def quotation(rows=5, seed=7):
    rng = random.Random(seed)
    items = [quotation_item(i, rng) for i in range(rows)]
    total = round(sum(r["amount"] for r in items), 2)
    return {
        "name": "SAL-QTN-2026-00042", "owner": "sales@example.com", "creation": datetime.datetime(2026, 11, 1, 9, 30, 12, 123456),
        "modified": datetime.datetime(2026, 11, 2, 10, 0), "modified_by": "sales@example.com", "docstatus": 0,
        "idx": 0, "title": "ACME Café", "naming_series": "SAL-QTN-.YYYY.-", "quotation_to": "Customer",
        "party_name": "CUST-0001", "customer_name": "ACME Café GmbH", "transaction_date": datetime.date(2026, 11, 1),
        "valid_till": datetime.date(2026, 12, 1), "order_type": "Sales", "company": "ACME", "currency": "EUR",
        "conversion_rate": 1.0, "selling_price_list": "Standard Selling", "price_list_currency": "EUR",
        "plc_conversion_rate": 1.0, "ignore_pricing_rule": 0, "total_qty": sum(r["qty"] for r in items),
        "base_total": total, "base_net_total": total, "total": total, "net_total": total, "total_net_weight": 0.0,
        "taxes_and_charges": "Germany VAT 19%", "base_total_taxes_and_charges": round(total * 0.19, 2),
        "total_taxes_and_charges": round(total * 0.19, 2), "base_grand_total": round(total * 1.19, 2),
        "grand_total": round(total * 1.19, 2), "rounding_adjustment": 0.0, "rounded_total": round(total * 1.19),
        "in_words": "EUR one thousand only.", "status": "Open", "contact_email": "buyer@acme.example",
        "territory": "Germany", "terms": None, "items": items, "taxes": [], "doctype": "Quotation",
    }
