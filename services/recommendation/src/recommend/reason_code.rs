//! The closed set of contact reasons the rules know, with the words shown for each.
//!
//! Codes are part of the response contract (desktops and routing key on them), so a code is
//! never renamed; new reasons are added at the end.

/// A likely reason for a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReasonCode {
    /// An order is past its promised delivery date.
    LateDelivery,
    /// A case is open and the customer may want news.
    OpenCaseFollowUp,
    /// An open case is a complaint.
    Complaint,
    /// A recent contact ended without a resolution.
    RepeatContact,
    /// Something was delivered recently.
    ProductQuestion,
    /// Bills, invoices, charges.
    BillingQuestion,
    /// Loans and mortgages.
    LoanApplication,
    /// Refunds and returns.
    Refund,
    /// Cancelling an order, a product or a contract.
    Cancellation,
    /// Passwords and logging in.
    AccessProblem,
    /// A payment that failed or was declined, a direct debit.
    PaymentProblem,
    /// Where an order stands.
    OrderStatus,
    /// Internet, broadband, signal: a service that does not connect.
    Connectivity,
}

impl ReasonCode {
    /// Every reason, in declaration order.
    pub const ALL: [ReasonCode; 13] = [
        ReasonCode::LateDelivery,
        ReasonCode::OpenCaseFollowUp,
        ReasonCode::Complaint,
        ReasonCode::RepeatContact,
        ReasonCode::ProductQuestion,
        ReasonCode::BillingQuestion,
        ReasonCode::LoanApplication,
        ReasonCode::Refund,
        ReasonCode::Cancellation,
        ReasonCode::AccessProblem,
        ReasonCode::PaymentProblem,
        ReasonCode::OrderStatus,
        ReasonCode::Connectivity,
    ];

    /// The stable code carried in `ContactReason.code`.
    pub fn code(self) -> &'static str {
        match self {
            ReasonCode::LateDelivery => "late_delivery",
            ReasonCode::OpenCaseFollowUp => "open_case_follow_up",
            ReasonCode::Complaint => "complaint",
            ReasonCode::RepeatContact => "repeat_contact",
            ReasonCode::ProductQuestion => "product_question",
            ReasonCode::BillingQuestion => "billing_question",
            ReasonCode::LoanApplication => "loan_application",
            ReasonCode::Refund => "refund",
            ReasonCode::Cancellation => "cancellation",
            ReasonCode::AccessProblem => "access_problem",
            ReasonCode::PaymentProblem => "payment_problem",
            ReasonCode::OrderStatus => "order_status",
            ReasonCode::Connectivity => "connectivity_problem",
        }
    }

    /// The reason with this code, if the rules know it.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A label for display.
    pub fn label(self) -> &'static str {
        match self {
            ReasonCode::LateDelivery => "Late delivery",
            ReasonCode::OpenCaseFollowUp => "Follow-up on an open case",
            ReasonCode::Complaint => "Open complaint",
            ReasonCode::RepeatContact => "Contacting again about an unresolved issue",
            ReasonCode::ProductQuestion => "Question about a recent purchase",
            ReasonCode::BillingQuestion => "Billing question",
            ReasonCode::LoanApplication => "Loan application",
            ReasonCode::Refund => "Refund or return",
            ReasonCode::Cancellation => "Cancellation",
            ReasonCode::AccessProblem => "Cannot log in",
            ReasonCode::PaymentProblem => "Payment problem",
            ReasonCode::OrderStatus => "Order status",
            ReasonCode::Connectivity => "Connection problem",
        }
    }

    /// What the customer talked about, as it reads after "we spoke about ...".
    pub fn topic(self) -> &'static str {
        match self {
            ReasonCode::LateDelivery => "your late order",
            ReasonCode::OpenCaseFollowUp => "your open case",
            ReasonCode::Complaint => "your complaint",
            ReasonCode::RepeatContact => "an unresolved issue",
            ReasonCode::ProductQuestion => "your recent purchase",
            ReasonCode::BillingQuestion => "your bill",
            ReasonCode::LoanApplication => "your loan application",
            ReasonCode::Refund => "your refund",
            ReasonCode::Cancellation => "a cancellation",
            ReasonCode::AccessProblem => "logging in",
            ReasonCode::PaymentProblem => "your payment",
            ReasonCode::OrderStatus => "your order",
            ReasonCode::Connectivity => "your connection",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for reason in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_code(reason.code()), Some(reason));
        }
        let mut codes: Vec<_> = ReasonCode::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ReasonCode::ALL.len());
        assert_eq!(ReasonCode::from_code("no_such_reason"), None);
    }
}
