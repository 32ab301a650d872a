"""Customers at the counter: find or add one for the ask, their consent and preferences, erase them.

F5 on the capture form opens the picker: type a name, phone or customer number,
Enter attaches the first match (or ↓ to choose), F2 adds a new customer. A
customer's phone and email are kept only with a consent, dated, with the version
of the wording that was read to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, DataTable, Input, Static
from textual.worker import Worker

from associate_tui.customers import (
    Customer,
    CustomerDraft,
    InvalidCustomer,
    Preferences,
    checked,
    due_on,
    split_words,
)
from associate_tui.errors import StoreError
from associate_tui.screens.messages import StoreFailed, report_worker_failure, show
from associate_tui.widgets.literal import Plain, cell
from schemas import limits

if TYPE_CHECKING:
    from associate_tui.counter import Counter


@dataclass(frozen=True)
class Attached:
    """What the picker hands back to the capture form."""

    customer: Customer
    follow_up: bool


class CustomersFound(Message):
    def __init__(self, customers: list[Customer]) -> None:
        super().__init__()
        self.customers = customers


class CustomerSaved(Message):
    def __init__(self, customer: Customer) -> None:
        super().__init__()
        self.customer = customer


class CustomerErased(Message):
    pass


class CustomerPickerScreen(ModalScreen["Attached | None"]):
    """Find the customer who asked, or add them."""

    AUTO_FOCUS = "#customer-search"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel"),
        Binding("f2", "new_customer", "New customer", id="new_customer"),
        Binding("f5", "edit_customer", "Edit", id="edit_customer"),
        Binding("f8", "erase_customer", "Erase", id="erase_customer"),
    ]

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter
        self.customers: list[Customer] = []
        self._keep_message = False  # an "erased" or "saved" word stays through the list's refresh

    def compose(self) -> ComposeResult:
        days = self.counter.config.follow_up_days
        with Vertical(classes="dialog", id="customer-dialog"):
            yield Static("Customer for this ask", classes="dialog-title")
            yield Input(placeholder="name, phone, email or customer number", id="customer-search", max_length=60)
            yield Checkbox(
                f"Contact them when it comes in (due {due_on(date.today(), days)})",
                True,
                id="follow-up",
            )
            yield DataTable(id="customer-results", cursor_type="row", zebra_stripes=True)
            yield Static(
                "Enter attaches · ↓ list · Tab follow-up · F2 new · F5 edit · F8 erase · Esc cancel",
                id="customer-message",
                classes="-hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Name", "Contact", "Number", "Prefers")
        self.search("")

    @work(thread=True, exclusive=True, group="customer-search", exit_on_error=False)
    def search(self, query: str) -> None:
        try:
            found = self.counter.get_store().find_customers(query)
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(CustomersFound(found))

    @on(CustomersFound)
    def _found(self, event: CustomersFound) -> None:
        self.customers = event.customers
        table = self.query_one(DataTable)
        table.clear()
        for customer in event.customers:
            table.add_row(
                cell(customer.name),
                cell(customer.contact or "(no contact: no consent)"),
                cell(customer.customer_number),
                cell(customer.preferences.summary()),
                key=customer.id,
            )
        if not event.customers and not self._keep_message:
            query = self.query_one("#customer-search", Input).value.strip()
            self._say(f"No customer matches '{query}'. F2 adds them." if query else "No customers yet. F2 adds one.", "hint")
        self._keep_message = False

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self._say(event.text, "error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    @on(Input.Changed, "#customer-search")
    def _typed(self, event: Input.Changed) -> None:
        self.search(event.value)

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one("#customer-search") and self.customers:
            self.query_one(DataTable).focus()
            event.stop()

    @on(Input.Submitted, "#customer-search")
    def _submitted(self, event: Input.Submitted) -> None:
        if self.customers:
            self._choose(self.customers[0])
        else:
            self.action_new_customer()

    @on(DataTable.RowSelected, "#customer-results")
    def _selected(self, event: DataTable.RowSelected) -> None:
        chosen = self._by_id(event.row_key.value)
        if chosen:
            self._choose(chosen)

    def _choose(self, customer: Customer) -> None:
        # Without a recorded consent there is no follow-up; the capture form says why.
        wanted = self.query_one("#follow-up", Checkbox).value and customer.consent_follow_up
        self.dismiss(Attached(customer, wanted))

    def _highlighted(self) -> Customer | None:
        table = self.query_one(DataTable)
        if not self.customers:
            return None
        if self.focused is table and table.cursor_row < len(self.customers):
            return self.customers[table.cursor_row]
        return self.customers[0]

    def _by_id(self, customer_id: str | None) -> Customer | None:
        return next((c for c in self.customers if c.id == customer_id), None)

    def _say(self, text: str, kind: str) -> None:
        show(self.query_one("#customer-message", Static), text, kind)

    # -- new, edit, erase ------------------------------------------------------------

    def action_new_customer(self) -> None:
        typed = self.query_one("#customer-search", Input).value.strip()
        prefill = CustomerDraft(name="" if any(ch.isdigit() or ch == "@" for ch in typed) else typed)

        def saved(customer: Customer | None) -> None:
            if customer is not None:
                self._choose(customer)

        self.app.push_screen(CustomerFormScreen(self.counter, None, prefill), saved)

    def action_edit_customer(self) -> None:
        customer = self._highlighted()
        if customer is None:
            self._say("No customer to edit: search for one first.", "hint")
            return

        def saved(changed: Customer | None) -> None:
            if changed is not None:
                self._say(f"Saved {changed.name}.", "ok")
                self._keep_message = True
                self.search(self.query_one("#customer-search", Input).value)

        self.app.push_screen(CustomerFormScreen(self.counter, customer, customer.draft()), saved)

    def action_erase_customer(self) -> None:
        customer = self._highlighted()
        if customer is None:
            self._say("No customer to erase: search for one first.", "hint")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.erase(customer.id)

        self.app.push_screen(EraseCustomerScreen(customer.name), confirmed)

    @work(thread=True, group="customer-erase", exit_on_error=False)
    def erase(self, customer_id: str) -> None:
        try:
            self.counter.get_store().erase_customer(customer_id)
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(CustomerErased())

    @on(CustomerErased)
    def _erased(self) -> None:
        self._say("Customer erased from this terminal; HQ erases them at the next sync. Their asks stay, anonymous.", "ok")
        self._keep_message = True
        self.counter.sync_soon()
        self.search(self.query_one("#customer-search", Input).value)


class EraseCustomerScreen(ModalScreen[bool]):
    """Withdrawn consent: one more key, because it cannot be undone."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "Keep", id="keep"),
        Binding("y", "dismiss(True)", "Erase", id="confirm_erase"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.customer_name = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog small-dialog"):
            yield Plain(f"Erase {self.customer_name}?", classes="dialog-title")
            yield Static(
                "Their name, contact details, consent and preferences are removed from this terminal now and from "
                "HQ at the next sync. Their asks stay as anonymous demand. This cannot be undone."
            )
            yield Static("y erases · n or Esc keeps them", classes="-hint")


class ConsentBox(Checkbox):
    """Space ticks it; Enter is left to the form, which saves (as it does from every field)."""

    inherit_bindings = False
    BINDINGS = [Binding("space", "toggle_button", "Tick", show=False)]

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's name; ticked or not must show without colour too
        return "✓" if self.value else " "

    def key_enter(self) -> None:
        self.screen.action_save()  # type: ignore[attr-defined]


class CustomerFormScreen(ModalScreen["Customer | None"]):
    """Add or change a customer: contact, consent, preferences. Enter in any field saves."""

    AUTO_FOCUS = "#customer-name"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="cancel"),
        Binding("enter", "save", "Save", show=False),
    ]

    def __init__(self, counter: Counter, customer: Customer | None, draft: CustomerDraft) -> None:
        super().__init__()
        self.counter = counter
        self.customer = customer
        self.initial = draft

    def compose(self) -> ComposeResult:
        d, p = self.initial, self.initial.preferences
        title = f"Customer: {self.customer.name}" if self.customer else "New customer"
        with VerticalScroll(classes="dialog", id="customer-form"):
            yield Plain(title, classes="dialog-title")
            yield Input(d.name, placeholder="name *", id="customer-name", max_length=limits.MAX_NAME)
            yield Static(
                f"Phone and email are kept only with the customer's consent (wording {self.counter.config.consent_wording}, "
                "dated today). Without consent, leave them empty.",
                classes="-hint",
            )
            yield Input(
                d.phone or "", placeholder="phone, e.g. +44 7700 900123", id="customer-phone", max_length=limits.MAX_PHONE
            )
            yield Input(
                d.email or "", placeholder="email, e.g. jane@example.com", id="customer-email", max_length=limits.MAX_EMAIL
            )
            yield ConsentBox("Agrees to be contacted about their asks (follow-up)", d.consent_follow_up, id="consent-follow-up")
            yield ConsentBox("Agrees to marketing", d.consent_marketing, id="consent-marketing")
            yield Input(
                d.customer_number or "",
                placeholder="loyalty / customer number",
                id="customer-number",
                max_length=limits.MAX_CUSTOMER_NUMBER,
            )
            yield Input(", ".join(p.sizes), placeholder="sizes, e.g. M, 10, 42", id="pref-sizes")
            yield Input(", ".join(p.colours), placeholder="colours, e.g. navy, olive", id="pref-colours")
            yield Input(", ".join(p.brands), placeholder="brands", id="pref-brands")
            yield Input(p.contact_channel or "", placeholder="contact by: phone, sms or email", id="pref-channel", max_length=5)
            yield Input(
                p.contact_time or "",
                placeholder="best time, e.g. weekdays after 5pm",
                id="pref-time",
                max_length=limits.MAX_CONTACT_TIME,
            )
            yield Input(p.notes or "", placeholder="notes", id="pref-notes", max_length=limits.MAX_PREFERENCE_NOTES)
            yield Static(
                "Enter saves · Tab next field · space ticks a box · Esc cancels", id="customer-form-message", classes="-hint"
            )

    def draft(self) -> CustomerDraft:
        value = lambda selector: self.query_one(selector, Input).value  # noqa: E731
        return CustomerDraft(
            name=value("#customer-name"),
            phone=value("#customer-phone"),
            email=value("#customer-email"),
            customer_number=value("#customer-number"),
            consent_follow_up=self.query_one("#consent-follow-up", Checkbox).value,
            consent_marketing=self.query_one("#consent-marketing", Checkbox).value,
            preferences=Preferences(
                sizes=split_words(value("#pref-sizes")),
                colours=split_words(value("#pref-colours")),
                brands=split_words(value("#pref-brands")),
                contact_channel=value("#pref-channel").strip().lower() or None,
                contact_time=value("#pref-time"),
                notes=value("#pref-notes"),
            ),
        )

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        try:
            draft = checked(self.draft())
        except InvalidCustomer as invalid:
            self._say("Not saved. " + "; ".join(f"{e.field.replace('_', ' ')}: {e.message}" for e in invalid.errors), "error")
            return
        self._say("Saving…", "hint")
        self.save(draft)

    @work(thread=True, group="customer-save", exit_on_error=False)
    def save(self, draft: CustomerDraft) -> None:
        config = self.counter.config
        store = self.counter.get_store()
        try:
            if self.customer is None:
                customer = store.add_customer(
                    draft,
                    store_id=config.store_id,
                    terminal_id=config.terminal_id,
                    associate=self.counter.associate,
                    consent_wording=config.consent_wording,
                )
            else:
                customer = store.edit_customer(
                    self.customer.id,
                    draft,
                    consent_wording=config.consent_wording,
                    expected_version=self.customer.version,
                )
        except StoreError as error:
            self.post_message(StoreFailed(error))
            return
        self.post_message(CustomerSaved(customer))

    @on(CustomerSaved)
    def _saved(self, event: CustomerSaved) -> None:
        self.counter.sync_soon()
        self.dismiss(event.customer)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self._say(event.text, "error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    def _say(self, text: str, kind: str) -> None:
        show(self.query_one("#customer-form-message", Static), text, kind).scroll_visible()
