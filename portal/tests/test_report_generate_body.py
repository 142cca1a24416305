"""`make fuzz` (issue 18): a JSON body that is no object on the original's report generation was a 500."""


def test_a_body_that_is_no_object_is_a_400(as_user, customer_a):
    response = as_user(customer_a).post("/hosting/api/client/reports/generate", [""], content_type="application/json")
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER"), response.content
