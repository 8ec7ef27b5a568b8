"""Units shared by several layers."""

#: days per year (a Julian year): daily doses and costs, waits in days
DAYS_PER_YEAR = 365.25
