"""`make fuzz` (issue 18): a site path segment of a Unicode digit ("¹": str.isdigit() but no int) was a 500."""


def test_a_unicode_digit_site_is_a_403_not_a_500(as_user, noc_x):
    client = as_user(noc_x)
    for path in ("/api/collector/live/%C2%B9", "/api/collector/monitor/sites/%C2%B9/miners/latest"):
        response = client.get(path + "?per_page=253&page=1440")
        assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN"), path
