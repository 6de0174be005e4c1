"""The journeys of issue 5 in real headless Chromium against a live server on the test database.

The world is made with the factories and judged by the real daily evaluation, so every page shows
real verdicts. alice (seller SEL-A) has Alpha Phones US (eligible) and Alpha Phones UK
(restricted: SPS 3.2 under 3.5), which sells Alpha Cable, a warning (5 % negative reviews against a
2.2 % category average: 2.27x). olga is ops with a confirmed authenticator; dave is a creator with
a PPS of 3.2, refused when he adds the Vitamin C Serum of a gated category.

Everyone signs in with the real form (olga with a code from pyotp); every step asserts what the
user reads, and each page visited is saved as ``artifacts/screenshots/<journey>-<step>.png``.
"""

import re
from decimal import Decimal

import pyotp
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import Page, expect

from affiliate.services import creator_add_product
from shops.models import Appeal, SellerMembership, StatusHistory, User
from shops.rules import codes as c
from shops.services.appeals import appeal_checklist_for, appeal_submit
from shops.services.evaluation import evaluation_run_inline
from tests.factories import make_category, make_creator, make_product, make_seller, make_shop, make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PASSWORD = "Correct-horse-42"
STATEMENT = "One faulty batch caused these reviews; it was recalled and replaced at our cost."
PDF = b"%PDF-1.7\n% proof of the recall\n"
SPS_REASON = "Shop Performance Score is below 3.5: you cannot add new products to affiliate plans"
NRR_REASON = "negative review rate over the last 30 days is at least 2 times the average of its leaf category"
NRR_FIX = "14 more reviews without a negative one bring it under 2× the category average."
PPS_REASON = "Your promotion performance score (PPS) is below 3.5"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def world():
    seller = make_seller(key="SEL-A", legal_name="Alpha Trading Ltd")
    alice = make_user(email="alice@example.com", role=User.Role.SELLER, password=PASSWORD)
    SellerMembership.objects.create(user=alice, seller=seller)
    olga = make_user(email="olga@example.com", role=User.Role.OPS, password=PASSWORD, is_staff=True)
    olga.otp_secret = pyotp.random_base32()
    olga.otp_confirmed_at = timezone.now()
    olga.save(update_fields=["otp_secret", "otp_confirmed_at"])
    dave_creator = make_creator(key="CR-DAVE", handle="dave.makes", pps=Decimal("3.2"), chr=Decimal("180"))
    dave = make_user(email="dave@example.com", role=User.Role.CREATOR, password=PASSWORD, creator=dave_creator)

    phones = make_category(key="CAT-PHONES", name="Phone accessories", name_zh="手机配件")
    skincare = make_category(key="CAT-SKIN", name="Skincare", name_zh="护肤", gated=True)
    us = make_shop(seller=seller, key="SHOP-A1", name="Alpha Phones US", market="US", sps=Decimal("4.2"))
    uk = make_shop(seller=seller, key="SHOP-A2", name="Alpha Phones UK", market="UK", sps=Decimal("3.2"))
    # Every product has 100 reviews: (0 + 1 + 2 + 3 + 5) / 500 = 2.2 %; 5 % is 2.27x, a warning.
    make_product(shop=us, category=phones, key="P-CASE", title="Alpha Case", negative_reviews_30d=0)
    make_product(shop=us, category=phones, key="P-STAND", title="Desk Stand", negative_reviews_30d=1)
    make_product(shop=uk, category=phones, key="P-CHARGER", title="Fast Charger", negative_reviews_30d=2)
    make_product(shop=uk, category=phones, key="P-GLASS", title="Screen Glass", negative_reviews_30d=3)
    cable = make_product(shop=uk, category=phones, key="P-CABLE", title="Alpha Cable", negative_reviews_30d=5)
    serum = make_product(shop=us, category=skincare, key="P-SERUM", title="Vitamin C Serum")
    evaluation_run_inline(as_of=timezone.localdate())
    for obj in (us, uk, cable, dave_creator):
        obj.refresh_from_db()
    assert (us.status, uk.status, cable.status, dave_creator.status) == (
        c.ELIGIBLE,
        c.RESTRICTED,
        c.WARNING,
        c.NOT_QUALIFIED,
    )
    refusal = creator_add_product(creator=dave_creator, product=serum, placement="live")
    assert not refusal.accepted
    return {"alice": alice, "olga": olga, "dave": dave, "cable": cable, "uk": uk}


def sign_in(browser, journey_step: str, email: str, *, path: str = "/") -> Page:
    """Open ``path`` signed out, land on the sign-in form and send it."""
    page = browser.go(path)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    browser.shot(journey_step)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


# (a) A seller signs in, finds the restricted shop and its warned product, and appeals -------------------


def test_a_seller_finds_the_warned_product_of_a_restricted_shop_and_appeals(world, open_browser):
    browser = open_browser(journey="a-seller-appeals")
    page = sign_in(browser, "01-sign-in", "alice@example.com")

    expect(page.get_by_role("heading", name="Your shops")).to_be_visible()
    restricted = page.locator("tr", has=page.get_by_role("link", name="Alpha Phones UK", exact=True))
    expect(restricted).to_contain_text("Restricted")
    expect(restricted).to_contain_text(SPS_REASON)
    expect(restricted).to_contain_text("Raise your Shop Performance Score to 3.5 or above.")
    expect(page.locator("tr", has=page.get_by_role("link", name="Alpha Phones US", exact=True))).to_contain_text(
        "Eligible"
    )
    browser.shot("02-portfolio")

    page.get_by_role("link", name="Alpha Phones UK", exact=True).first.click()
    expect(page.get_by_role("heading", name="Alpha Phones UK", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Restricted")
    expect(page.locator("main")).to_contain_text(SPS_REASON)
    browser.shot("03-shop")

    page.get_by_role("link", name="Products of this shop", exact=True).click()
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    cable_row = page.locator("tr", has=page.get_by_role("link", name="Alpha Cable", exact=True))
    expect(cable_row).to_contain_text("Warning")
    expect(cable_row).to_contain_text("5 of 100 reviews negative")
    expect(page.get_by_role("link", name="Alpha Case", exact=True)).to_have_count(0)  # the other shop's product
    browser.shot("04-products-of-the-shop")

    page.get_by_role("link", name="Alpha Cable", exact=True).click()
    expect(page.get_by_role("heading", name="Alpha Cable", level=1)).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text("Warning")
    expect(main).to_contain_text(NRR_REASON)
    expect(main).to_contain_text("What to do:")
    expect(main).to_contain_text(NRR_FIX)
    browser.shot("05-warned-product")

    page.get_by_role("link", name="Appeal this verdict", exact=True).first.click()
    expect(page.get_by_role("heading", name="Appeal the verdict on Alpha Cable")).to_be_visible()
    browser.shot("06-appeal-form")
    page.get_by_label("Why is the verdict wrong?").fill(STATEMENT)
    for item in appeal_checklist_for([c.NRR_ABOVE_WARNING]):
        page.get_by_label(str(item.label), exact=True).set_input_files(
            {"name": f"{item.key}.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )
    browser.shot("07-appeal-form-filled")
    page.get_by_role("button", name="Send the appeal").click()

    expect(page.get_by_text("Your appeal was sent.")).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text("Submitted")
    expect(main).to_contain_text(STATEMENT)
    expect(main).to_contain_text("supplier_certificate.pdf")
    browser.shot("08-appeal-sent")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Appeals", exact=True).click()
    expect(page.get_by_role("heading", name="Appeals", level=1)).to_be_visible()
    appeal = Appeal.objects.get()
    row = page.locator("tr", has_text=f"Appeal #{appeal.pk}")
    expect(row).to_contain_text("P-CABLE")
    expect(row).to_contain_text("Submitted")
    browser.shot("09-appeal-list")


# (b) An ops reviewer signs in with a one-time code and approves; the seller sees the outcome ------------


def test_an_ops_reviewer_approves_the_appeal_and_the_seller_sees_it(world, open_browser):
    verdict = StatusHistory.objects.filter(entity="product", entity_id=world["cable"].pk).latest("id")
    evidence = [
        (item.key, SimpleUploadedFile(f"{item.key}.pdf", PDF, content_type="application/pdf"))
        for item in appeal_checklist_for(verdict.new_reasons)
    ]
    appeal = appeal_submit(
        user=world["alice"], entity="product", entity_id=world["cable"].pk, statement=STATEMENT, evidence=evidence
    )

    ops = open_browser(journey="b-ops-approves")
    page = sign_in(ops, "01-sign-in", "olga@example.com")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    ops.shot("02-one-time-code")
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(world["olga"].otp_secret).now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Operations overview", level=1)).to_be_visible()
    ops.shot("03-ops-overview")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Appeals", exact=True).click()
    expect(page.get_by_role("heading", name="Appeal queue", level=1)).to_be_visible()
    row = page.locator("tr", has=page.get_by_role("link", name=f"#{appeal.pk}", exact=True))
    expect(row).to_contain_text("P-CABLE")
    expect(row).to_contain_text("3 of 3")
    ops.shot("04-appeal-queue")

    row.get_by_role("link", name=f"#{appeal.pk}", exact=True).click()
    expect(page.get_by_role("heading", name=f"Appeal #{appeal.pk} · P-CABLE")).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text(STATEMENT)
    expect(main).to_contain_text("Complete")
    for item in appeal_checklist_for(verdict.new_reasons):
        expect(main).to_contain_text(str(item.label))
    ops.shot("05-appeal")

    approve = page.locator("form", has=page.get_by_role("button", name="Approve appeal"))
    approve.get_by_label("Status shown over the verdict").select_option(c.ELIGIBLE)
    approve.get_by_label("Reason").fill("Batch recalled; the supplier certificate confirms it.")
    ops.shot("06-approve-filled")
    approve.get_by_role("button", name="Approve appeal").click()
    expect(page.get_by_role("status")).to_contain_text(f"Appeal #{appeal.pk} approved: P-CABLE now shows Eligible.")
    decision = page.locator("#decision")
    expect(decision).to_contain_text("Approved")
    expect(decision).to_contain_text("Batch recalled; the supplier certificate confirms it.")
    expect(decision).to_contain_text("Eligible")
    ops.shot("07-approved")

    seller = open_browser(journey="b-ops-approves")
    page = sign_in(seller, "08-seller-sign-in", "alice@example.com", path=f"/appeals/{appeal.pk}/")
    main = page.locator("main")
    expect(main).to_contain_text("Approved.")
    expect(main).to_contain_text("The operations team shows the status Eligible over the computed verdict")
    expect(main).to_contain_text("Batch recalled; the supplier certificate confirms it.")
    seller.shot("09-seller-sees-approval")

    page.get_by_role("link", name="P-CABLE", exact=True).click()
    expect(page.get_by_role("heading", name="Alpha Cable", level=1)).to_be_visible()
    expect(page.locator(".status-card")).to_contain_text("Eligible")
    expect(page.locator("main")).to_contain_text("The operations team set this status by hand (computed: Warning).")
    seller.shot("10-product-after-approval")


# (c) A creator sees the refused add and why ---------------------------------------------------------------


def test_a_creator_sees_the_refused_add_with_its_reason(world, open_browser):
    browser = open_browser(journey="c-creator-refused")
    page = sign_in(browser, "01-sign-in", "dave@example.com")

    expect(page.get_by_role("heading", name="My eligibility", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Not qualified")
    refusals = page.locator("#creator-refusals")
    expect(refusals.get_by_role("heading", name=re.compile("Refused adds"))).to_be_visible()
    row = refusals.locator("tr", has_text="Vitamin C Serum")
    expect(row).to_contain_text("Live session")
    expect(row).to_contain_text(PPS_REASON)
    expect(row).to_contain_text("3.2 (minimum 3.5)")
    browser.shot("02-creator-page")


# (d) The language switch shows the same page in Chinese ----------------------------------------------------


def test_the_language_switch_shows_the_same_page_in_chinese(world, open_browser):
    browser = open_browser(journey="d-language-switch")
    page = sign_in(browser, "01-sign-in", "alice@example.com", path="/products/P-CABLE/")
    expect(page.get_by_role("heading", name="Alpha Cable", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Shops", exact=True)).to_be_visible()
    browser.shot("02-product-in-english")
    url = page.url

    # The switch sends itself on change once the page's script has run (it marks <html class="js">).
    expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
    page.get_by_label("Language").select_option("zh-hans")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    assert page.url == url
    expect(page.get_by_role("heading", name="Alpha Cable", level=1)).to_be_visible()  # the same product
    expect(page.locator(".status-card")).to_contain_text("警告")  # Warning
    expect(page.locator("nav.nav-wide").get_by_role("link", name="店铺", exact=True)).to_be_visible()  # Shops
    browser.shot("03-product-in-chinese")

    page.locator("nav.nav-wide").get_by_role("link", name="店铺", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("link", name="Alpha Phones UK", exact=True)).to_be_visible()
    browser.shot("04-portfolio-in-chinese")


# (e) A phone: no sideways scrolling on the portfolio and the products table ----------------------------------


def _assert_no_horizontal_scroll(page: Page) -> None:
    scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    if scroll_width > inner_width + 1:
        # Name the elements that stick out, to say what to fix.
        wide = page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(0, 8)
                .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`)"""
        )
        pytest.fail(f"{page.url} scrolls sideways: {scroll_width}px in {inner_width}px; too wide: {wide}")


def test_on_a_phone_the_portfolio_and_product_table_fit_the_screen(world, open_browser):
    browser = open_browser(**PHONE, journey="e-phone")
    page = browser.go("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _assert_no_horizontal_scroll(page)
    page = sign_in(browser, "01-sign-in", "alice@example.com")

    expect(page.get_by_role("heading", name="Your shops")).to_be_visible()
    expect(page.get_by_role("link", name="Alpha Phones UK", exact=True)).to_be_visible()
    expect(page.get_by_text(SPS_REASON)).to_be_visible()
    _assert_no_horizontal_scroll(page)
    browser.shot("02-portfolio")

    page.get_by_text("Menu", exact=True).click()
    menu = page.locator("details.nav-toggle nav")
    expect(menu.get_by_role("link", name="Products", exact=True)).to_be_visible()
    browser.shot("03-menu-open")
    menu.get_by_role("link", name="Products", exact=True).click()

    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Alpha Cable", exact=True)).to_be_visible()
    expect(page.locator("tr", has=page.get_by_role("link", name="Alpha Cable", exact=True))).to_contain_text("Warning")
    _assert_no_horizontal_scroll(page)
    browser.shot("04-product-table")

    page.get_by_role("link", name="Alpha Cable", exact=True).click()
    expect(page.get_by_role("heading", name="Alpha Cable", level=1)).to_be_visible()
    _assert_no_horizontal_scroll(page)
    browser.shot("05-product")


# (f) The keyboard: Tab through the sign-in form, Enter signs in, focus is visible ------------------------


def _focused(page: Page) -> dict:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                id: el.id, tag: el.tagName.toLowerCase(), type: el.type || "", text: el.innerText || "",
                outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0,
            };
        }"""
    )


def _press_until(page: Page, key: str, reached, *, limit: int = 12) -> dict:
    """Press ``key`` until the focused element is the one ``reached`` accepts; that element."""
    for _ in range(limit):
        page.keyboard.press(key)
        focused = _focused(page)
        if reached(focused):
            return focused
    pytest.fail(f"{key} {limit} times never reached the element; focus is on {focused}")


def test_the_sign_in_form_works_from_the_keyboard_with_a_visible_focus(world, open_browser):
    browser = open_browser(journey="f-keyboard")
    page = browser.go("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The form opens with the cursor in the e-mail field.
    expect(page.get_by_label("Email address")).to_be_focused()
    # From the first stop of the page (the skip link), Tab walks through the header into the form.
    page.get_by_role("link", name="Skip to content", exact=True).focus()
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = _focused(page)
        order.append(focused["id"] or focused["text"])
        assert focused["outline"] != "none" and focused["width"] >= 2, f"no visible focus on {focused}"
        if focused["tag"] == "button" and focused["text"] == "Sign in":
            break
    assert "id_email" in order and "id_password" in order and order[-1] == "Sign in", order
    assert order.index("id_email") < order.index("id_password"), order

    # Back to the e-mail field: type, Tab to the password, Enter signs in.
    _press_until(page, "Shift+Tab", lambda focused: focused["id"] == "id_email")
    browser.shot("01-focus-on-email")
    page.keyboard.type("alice@example.com")
    _press_until(page, "Tab", lambda focused: focused["id"] == "id_password")
    page.keyboard.type(PASSWORD)
    browser.shot("02-focus-on-password")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Your shops")).to_be_visible()
    # The skip link is the first stop on every page and takes the reader to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content", exact=True)).to_be_focused()
    browser.shot("03-skip-link-focused")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    focused = _press_until(page, "Tab", lambda focused: focused["text"] == "Alpha Phones UK", limit=40)
    expect(page.get_by_role("link", name="Alpha Phones UK", exact=True)).to_be_focused()
    assert focused["outline"] != "none" and focused["width"] >= 2
    browser.shot("04-focus-on-shop-link")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Alpha Phones UK", level=1)).to_be_visible()
    browser.shot("05-shop-opened-with-enter")
